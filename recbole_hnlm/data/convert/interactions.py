"""Compact in-memory store of interactions, with review texts spilled to a temporary sidecar.

Users and items are interned to ints (one dict entry per distinct id); each row costs a few bytes in
typed arrays. Review texts are never kept in memory: they are appended to a temporary file as
``row<TAB>[summary, text]`` lines and filtered against the final row mask at the end.
"""
from array import array

import numpy as np

from . import jsonio
from .errors import BadRecord
from .text import bad_id_reason

TRAIN, VALID, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "valid", "test")


class InteractionBuffer:
    """Rows of (user, item, rating, timestamp[, split]) as arrays; see :meth:`add`."""

    def __init__(self, row_filter, review_path=None):
        self.row_filter = row_filter
        self.user_index = {}
        self.item_index = {}
        self.users = array("i")
        self.items = array("i")
        self.ratings = array("d")
        self.timestamps = array("d")
        self.splits = array("b")
        self.review_path = review_path
        self._reviews = open(review_path, "w", encoding="utf-8") if review_path else None
        self.n_reviews = 0
        # bound methods, looked up once: add() is the hot path of every converter
        self._filter_active = row_filter.active
        self._accept = row_filter.accept
        self._user_get = self.user_index.get
        self._item_get = self.item_index.get
        self._append_user = self.users.append
        self._append_item = self.items.append
        self._append_rating = self.ratings.append
        self._append_ts = self.timestamps.append
        self._append_split = self.splits.append

    def _new_id(self, index, token, what):
        reason = bad_id_reason(token)
        if reason:
            raise BadRecord(f"{what}: {reason}")
        idx = index[token] = len(index)
        return idx

    def add(self, user, item, rating, timestamp, split=TRAIN, summary=None, text=None):
        """Store one row unless the rating/date filters reject it; returns whether it was stored.

        Raises :class:`BadRecord` for an id that cannot be written to an atomic file (nothing of the
        row is stored then).
        """
        if self._filter_active and not self._accept(rating, timestamp):
            return False
        u = self._user_get(user)
        if u is None:
            u = self._new_id(self.user_index, user, "user id")
        i = self._item_get(item)
        if i is None:
            i = self._new_id(self.item_index, item, "item id")
        self._append_user(u)
        self._append_item(i)
        self._append_rating(rating)
        self._append_ts(timestamp)
        self._append_split(split)
        if (text or summary) and self._reviews is not None:
            self._reviews.write(f"{len(self.users) - 1}\t{jsonio.dumps([summary or '', text or ''])}\n")
            self.n_reviews += 1
        return True

    def __len__(self):
        return len(self.users)

    def close(self):
        if self._reviews is not None:
            self._reviews.close()
            self._reviews = None

    def arrays(self):
        """``(users, items, ratings, timestamps, splits)`` as numpy arrays (sharing memory)."""
        as_np = lambda a, dt: np.frombuffer(a, dtype=dt) if len(a) else np.zeros(0, dtype=dt)
        return (as_np(self.users, np.int32), as_np(self.items, np.int32), as_np(self.ratings, np.float64),
                as_np(self.timestamps, np.float64), as_np(self.splits, np.int8))

    def user_tokens(self):
        return list(self.user_index)

    def item_tokens(self):
        return list(self.item_index)

    def iter_reviews(self, keep):
        """Yield ``(row, summary, text)`` for the reviews of rows where ``keep[row]`` is true."""
        if not self.review_path:
            return
        self.close()
        with open(self.review_path, encoding="utf-8") as f:
            for line in f:
                row, _, payload = line.partition("\t")
                row = int(row)
                if keep[row]:
                    summary, text = jsonio.loads(payload)
                    yield row, summary, text

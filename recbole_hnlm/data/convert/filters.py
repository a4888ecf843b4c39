"""Filters shared by all formats: rating threshold, date range, duplicates and iterative k-core.

Semantics (the same for every format):

* rating: a row is kept when ``rating >= min_rating``.
* dates: a row is kept when ``start <= timestamp < end`` -- the start is inclusive, the end exclusive,
  both at 00:00:00 UTC when given as dates (``2015-01-01`` .. ``2018-01-01`` keeps all of 2015, 2016
  and 2017 and nothing of 2018-01-01). Timestamps are Unix seconds (UTC); naive date-times are UTC.
* duplicates (the same user and item more than once): ``first`` keeps the earliest interaction,
  ``last`` the latest (by timestamp, ties broken by input order), ``all`` keeps every row
  (repeat purchases stay; RecBole then sees the pair several times).
* k-core: users with fewer than ``min_user_inter`` and items with fewer than ``min_item_inter``
  interactions are removed, repeatedly, until no user or item falls below its threshold (removing a
  user can push an item under the threshold and so on). Rows are counted after de-duplication.

Rating and date filters run while reading (rows they reject are never stored); de-duplication and
k-core run on the compact arrays once everything is read, in that order.
"""
import datetime as _dt
from dataclasses import dataclass, asdict

import numpy as np

from .errors import ConvertError

DEDUP_CHOICES = ("first", "last", "all")


def parse_utc(value, what="date"):
    """Unix seconds for ``YYYY-MM-DD`` or an ISO date-time; naive values are taken as UTC."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConvertError(f"{what} {value!r} is not a date (YYYY-MM-DD) or ISO date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.timestamp()


@dataclass
class FilterSpec:
    """What to filter; ``None`` (or ``0`` for the k-core) disables a filter."""

    min_rating: float = None
    start_date: str = None
    end_date: str = None
    min_user_inter: int = 0
    min_item_inter: int = 0
    dedup: str = None

    def __post_init__(self):
        if self.dedup is not None and self.dedup not in DEDUP_CHOICES:
            raise ConvertError(f"dedup must be one of {DEDUP_CHOICES}, not {self.dedup!r}")
        for name in ("min_user_inter", "min_item_inter"):
            v = getattr(self, name) or 0
            if int(v) != v or v < 0:
                raise ConvertError(f"{name} must be a non-negative integer, not {v!r}")
            setattr(self, name, int(v))
        start, end = self.start_ts, self.end_ts
        if start is not None and end is not None and start >= end:
            raise ConvertError(f"empty date range: start {self.start_date} is not before end {self.end_date}")

    @property
    def start_ts(self):
        return parse_utc(self.start_date, "start date")

    @property
    def end_ts(self):
        return parse_utc(self.end_date, "end date")

    @property
    def uses_dates(self):
        return self.start_date is not None or self.end_date is not None

    def as_dict(self):
        return asdict(self)


class RowFilter:
    """The per-row filters (rating, dates), applied while reading; counts what each removed."""

    def __init__(self, spec):
        self.min_rating = spec.min_rating
        self.start = spec.start_ts
        self.end = spec.end_ts
        self.removed_rating = 0
        self.removed_date = 0
        self.active = self.min_rating is not None or self.start is not None or self.end is not None

    def accept(self, rating, timestamp):
        """True when the row passes; otherwise count the first filter that rejects it."""
        if self.min_rating is not None and not rating >= self.min_rating:
            self.removed_rating += 1
            return False
        if self.start is not None and not timestamp >= self.start:
            self.removed_date += 1
            return False
        if self.end is not None and not timestamp < self.end:
            self.removed_date += 1
            return False
        return True


def deduplicate(users, items, timestamps, keep, mask=None):
    """Boolean mask of the rows to keep among repeated (user, item) pairs.

    ``keep``: ``first`` (earliest by timestamp, ties by input order), ``last`` (latest) or ``all``.
    ``mask`` restricts the decision to rows already kept; rows outside it stay removed.
    """
    n = len(users)
    if mask is None:
        mask = np.ones(n, dtype=bool)
    if keep in (None, "all"):
        return mask.copy()
    if keep not in DEDUP_CHOICES:
        raise ConvertError(f"dedup must be one of {DEDUP_CHOICES}, not {keep!r}")
    rows = np.flatnonzero(mask)
    if not len(rows):
        return mask.copy()
    ts = np.asarray(timestamps, dtype=np.float64)[rows]
    order = np.lexsort((rows, ts))  # chronological, stable on input order
    if keep == "last":
        order = order[::-1]
    n_items = int(np.max(items[rows])) + 1
    keys = users[rows].astype(np.int64) * n_items + items[rows].astype(np.int64)
    _, first_pos = np.unique(keys[order], return_index=True)
    out = np.zeros(n, dtype=bool)
    out[rows[order[first_pos]]] = True
    return out


def k_core(users, items, min_user, min_item, mask=None):
    """Iterative k-core: ``(mask, rounds)`` keeping users with >= ``min_user`` and items with >=
    ``min_item`` rows among the kept ones, repeated until stable."""
    n = len(users)
    mask = np.ones(n, dtype=bool) if mask is None else mask.copy()
    if not min_user and not min_item:
        return mask, 0
    n_users = int(users.max()) + 1 if n else 0
    n_items = int(items.max()) + 1 if n else 0
    rounds = 0
    while True:
        rounds += 1
        keep = mask.copy()
        if min_user:
            ucount = np.bincount(users[mask], minlength=n_users)
            keep &= ucount[users] >= min_user
        if min_item:
            icount = np.bincount(items[mask], minlength=n_items)
            keep &= icount[items] >= min_item
        if np.array_equal(keep, mask):
            return mask, rounds
        mask = keep

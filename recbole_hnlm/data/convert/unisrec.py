"""UniSRec processed Amazon sets (Hou et al., KDD'22), e.g. ``Scientific``.

Files in the input folder, for a prefix ``<P>``:

* ``<P>.{train,valid,test}.inter`` -- header ``user_id:token  item_id_list:token_seq  item_id:token``;
  one row per prediction target with the preceding history (integer ids, history cut to the last 50
  items). Train has one row per target from the 2nd item to the 3rd-last, valid the 2nd-last, test the
  last.
* ``<P>.user2index`` / ``<P>.item2index`` -- ``original_id<TAB>index`` (reviewer ids and ASINs).
* ``<P>.text`` -- ``item_id:token  text:token_seq`` keyed by ASIN: "title. category path. brand.".

Each user's full sequence is rebuilt from all rows (train rows sorted by history length, ties by
reverse file order, then valid, then test), and every row is checked to continue it: the rebuilt
sequences are longer than "test history + target" for users whose history the 50-item window cut.
Output ids are the original reviewer ids and ASINs; the timestamp is the position in the user's
sequence (0, 1, ...); the rating is 1. Benchmark files: the last item of each user is test, the
2nd-last valid, the rest train -- exactly the source's split. Repeated items (repeat purchases) are
kept by default (``--dedup all``).
"""
import logging
import os
from collections import defaultdict

from .base import Source
from .errors import BadRecord, ConvertError
from .interactions import TEST, TRAIN, VALID
from .text import bad_id_reason

logger = logging.getLogger(__name__)

SPLITS = (("train", TRAIN), ("valid", VALID), ("test", TEST))
EXPECTED_HEADER = ["user_id:token", "item_id_list:token_seq", "item_id:token"]


class UniSRecSource(Source):
    format_name = "unisrec"
    description = "UniSRec processed set: <P>.{train,valid,test}.inter, <P>.text, <P>.item2index, <P>.user2index"
    real_timestamps = False
    has_ratings = False
    presplit = True
    default_dedup = "all"
    item_columns = (("text", "token_seq"),)

    def prepare(self):
        folder = self.inputs.input
        if os.path.isfile(folder):
            folder = os.path.dirname(os.path.abspath(folder))
        if not os.path.isdir(folder):
            raise ConvertError(f"unisrec: input folder {self.inputs.input!r} not found")
        train = self.find_in_dir(folder, ["*.train.inter"], "UniSRec <P>.train.inter file")
        self.prefix = os.path.join(folder, os.path.basename(train)[: -len(".train.inter")])
        for name, _ in SPLITS:
            self.need_file(f"{self.prefix}.{name}.inter", f"{name} file")

    def _optional(self, suffix):
        path = f"{self.prefix}.{suffix}"
        return path if os.path.isfile(path) else None

    def input_paths(self):
        paths = [f"{self.prefix}.{name}.inter" for name, _ in SPLITS]
        return paths + [p for p in map(self._optional, ("user2index", "item2index", "text")) if p]

    def _index_map(self, suffix):
        """index -> original id from a ``<original><TAB><index>`` file, or ``None`` when absent."""
        path = self._optional(suffix)
        if path is None:
            logger.warning("unisrec: %s.%s not found; integer ids are written as they are", self.prefix, suffix)
            return None
        mapping = {}
        for lineno, line in self.reader.lines(path, desc=suffix):
            parts = line.split("\t")
            if len(parts) != 2 or not parts[0] or not parts[1].strip():
                self.reader.bad(path, lineno, "expected 'original_id<TAB>index'")
                continue
            mapping[parts[1].strip()] = parts[0]
        return mapping

    def _read_rows(self):
        """user -> list of (split, file_row, history tuple, target) from the three inter files."""
        rows = defaultdict(list)
        for name, split in SPLITS:
            path = f"{self.prefix}.{name}.inter"
            first = True
            for lineno, line in self.reader.lines(path, desc=name):
                if first:
                    first = False
                    header = [c.strip() for c in line.split("\t")]
                    if header != EXPECTED_HEADER:
                        raise ConvertError(f"{path}: line 1: header {header} is not {EXPECTED_HEADER}")
                    continue
                parts = line.split("\t")
                if len(parts) != 3 or not parts[0] or not parts[2].strip():
                    self.reader.bad(path, lineno, f"expected 3 TAB-separated fields (user, history, target), got {len(parts)}")
                    continue
                rows[parts[0]].append((split, lineno, tuple(parts[1].split()), parts[2].strip()))
        return rows

    @staticmethod
    def rebuild_sequence(user_rows):
        """The user's full item sequence; raises :class:`BadRecord` when the rows do not chain."""
        train = sorted((r for r in user_rows if r[0] == TRAIN), key=lambda r: (len(r[2]), -r[1]))
        ordered = train + [r for r in user_rows if r[0] == VALID] + [r for r in user_rows if r[0] == TEST]
        seq = list(ordered[0][2])
        splits = [TRAIN] * len(seq)
        for split, lineno, history, target in ordered:
            if history and tuple(seq[-len(history):]) != history:
                raise BadRecord(f"history at line {lineno} does not continue the sequence rebuilt from the other rows")
            seq.append(target)
            splits.append(split)
        return seq, splits, len(ordered[-1][2]) + 1

    def read_interactions(self, buf):
        users = self._index_map("user2index")
        items = self._index_map("item2index")
        truncated = 0
        rows = self._read_rows()
        for user, user_rows in rows.items():
            try:
                seq, splits, visible = self.rebuild_sequence(user_rows)
            except BadRecord as e:
                self.reader.bad(f"{self.prefix}.*.inter", None, f"user {user}: {e}")
                continue
            truncated += len(seq) - visible
            utoken = users.get(user, user) if users is not None else user
            itokens = [items.get(i, i) for i in seq] if items is not None else seq
            reason = next(filter(None, map(bad_id_reason, [utoken] + itokens)), None)
            if reason:
                self.reader.bad(f"{self.prefix}.*.inter", None, f"user {user}: {reason}")
                continue
            for pos, (item, split) in enumerate(zip(itokens, splits)):
                buf.add(utoken, item, 1.0, float(pos), split=split)
        self.notes["history_items_cut_by_source_window"] = truncated

    def iter_items(self, wanted):
        path = self._optional("text")
        if path is None:
            return
        seen = set()
        first = True
        for lineno, line in self.reader.lines(path, desc="text"):
            if first:
                first = False
                if line.startswith("item_id:"):
                    continue
            item, sep, text = line.partition("\t")
            if not sep:
                self.reader.bad(path, lineno, "expected 'item_id<TAB>text'")
                continue
            if item in wanted and item not in seen:
                seen.add(item)
                yield item, {"text": text}

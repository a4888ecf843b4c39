"""UniSRec processed Amazon sets (Hou et al., KDD'22), e.g. ``Scientific``.

Files in the input folder, for a prefix ``<P>``:

* ``<P>.{train,valid,test}.inter`` -- header ``user_id:token  item_id_list:token_seq  item_id:token``;
  one row per prediction target with the preceding history (integer ids, history cut to the last 50
  items). Train has one row per target from the 2nd item to the 3rd-last, valid the 2nd-last, test the
  last. ``<P>.train.inter`` is optional (LLMRank-style downloads ship valid and test only: their
  histories already hold the sequences, up to the window).
* ``<P>.user2index`` / ``<P>.item2index`` -- ``original_id<TAB>index`` (reviewer ids and ASINs), optional.
* the item text (``--meta``, else ``<P>.text``, else ``<P>.item``): a RecBole atomic table, e.g.
  ``item_id:token  text:token_seq`` keyed by ASIN ("title. category path. brand.") or
  ``item_id:token  title:token_seq ...``, keyed by the output ids or by the source's indices. Its text
  columns are joined with ". " into the output's ``text``.

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
from .tables import iter_table, read_header
from .text import bad_id_reason, join_texts

logger = logging.getLogger(__name__)

SPLITS = (("train", TRAIN), ("valid", VALID), ("test", TEST))
EXPECTED_HEADER = ["user_id:token", "item_id_list:token_seq", "item_id:token"]


class UniSRecSource(Source):
    format_name = "unisrec"
    description = "UniSRec processed set: <P>.{train,valid,test}.inter, <P>.text, <P>.item2index, <P>.user2index"
    uses = ("meta",)
    real_timestamps = False
    has_ratings = False
    presplit = True
    default_dedup = "all"
    item_columns = (("text", "token_seq"),)
    split_description = "leave-one-out: each user's last item is test, the second-last valid, the rest train"

    def prepare(self):
        folder = self.inputs.input
        if os.path.isfile(folder):
            folder = os.path.dirname(os.path.abspath(folder))
        if not os.path.isdir(folder):
            raise ConvertError(f"unisrec: input folder {self.inputs.input!r} not found")
        test = self.find_in_dir(folder, ["*.test.inter"], "UniSRec <P>.test.inter file")
        self.prefix = os.path.join(folder, os.path.basename(test)[: -len(".test.inter")])
        self.need_file(f"{self.prefix}.valid.inter", "valid file")
        self.splits = [(name, split) for name, split in SPLITS if os.path.isfile(f"{self.prefix}.{name}.inter")]
        self.item_file = self.inputs.meta or self._optional("text") or self._optional("item")
        if self.item_file:
            self.need_file(self.item_file, "item text file")
            columns = read_header(self.item_file)
            if "item_id" not in [n for n, _ in columns]:
                raise ConvertError(f"{self.item_file}: missing field 'item_id' in the header (has {columns})")
            self.text_columns = [n for n, t in columns if t in ("token", "token_seq") and n != "item_id"]
        else:
            logger.warning("unisrec: no item text file (%s.text or .item, or --meta); items get no text", self.prefix)
        self.item_map = None

    def _optional(self, suffix):
        path = f"{self.prefix}.{suffix}"
        return path if os.path.isfile(path) else None

    def input_paths(self):
        paths = [f"{self.prefix}.{name}.inter" for name, _ in self.splits]
        return paths + [p for p in (self._optional("user2index"), self._optional("item2index"), self.item_file) if p]

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
        for name, split in self.splits:
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
        items = self.item_map = self._index_map("item2index")
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
        if not self.item_file:
            return
        index_to_id = self.item_map or {}
        for _, row in iter_table(self.item_file, self.reader):
            key = row["item_id"].strip()
            item = key if key in wanted else index_to_id.get(key)
            if item in wanted:
                yield item, {"text": join_texts([row[c] for c in self.text_columns], ". ")}

"""RecBole atomic files as input (e.g. RecBole's own ``ml-100k``): re-filtered and re-written.

``--input`` is the folder holding ``<name>.inter`` (and optionally ``<name>.item``, ``<name>.user``),
or the ``.inter`` file itself. The ``.inter`` header must have ``user_id`` and ``item_id``;
``rating`` and ``timestamp`` are used when present (without ``timestamp`` the position of the row
among the user's rows is written, without ``rating`` 1). Other ``.inter`` columns are dropped.
``.item`` / ``.user`` keep all their columns and types (text re-cleaned), for the kept ids.
"""
import csv
import os

from .base import Source
from .errors import BadRecord, ConvertError
from .tables import iter_table, read_header
from .text import parse_float


class AtomicSource(Source):
    format_name = "atomic"
    description = "RecBole atomic set: <name>.inter (+ <name>.item, <name>.user)"
    uses = ("meta", "users")
    default_dedup = "all"

    def prepare(self):
        path = self.inputs.input
        if os.path.isdir(path):
            candidates = [p for p in os.listdir(path) if p.endswith(".inter")
                          and not p.endswith((".train.inter", ".valid.inter", ".test.inter"))]
            if len(candidates) != 1:
                raise ConvertError(f"{path}: expected exactly one <name>.inter file, found {sorted(candidates)}")
            path = os.path.join(path, candidates[0])
        self.inter = self.need_file(path, ".inter file")
        stem = self.inter[: -len(".inter")]
        self.item_file = self.inputs.meta or (stem + ".item" if os.path.isfile(stem + ".item") else None)
        self.user_file = self.inputs.users or (stem + ".user" if os.path.isfile(stem + ".user") else None)
        names = [n for n, _ in read_header(self.inter)]
        for required in ("user_id", "item_id"):
            if required not in names:
                raise ConvertError(f"{self.inter}: missing field {required!r} in the header (has {names})")
        self.inter_names = names
        self.has_ratings = "rating" in names
        self.real_timestamps = "timestamp" in names
        self.item_source_columns = self._columns(self.item_file, "item_id")
        self.user_source_columns = self._columns(self.user_file, "user_id")

    def _columns(self, path, id_name):
        if not path:
            return None
        self.need_file(path, f"{id_name[:4]} file")
        columns = read_header(path)
        if id_name not in [n for n, _ in columns]:
            raise ConvertError(f"{path}: missing field {id_name!r} in the header (has {[n for n, _ in columns]})")
        return columns

    def input_paths(self):
        return [p for p in (self.inter, self.item_file, self.user_file) if p]

    def item_columns_for_output(self):
        return [c for c in (self.item_source_columns or []) if c[0] != "item_id"]

    def user_columns_for_output(self):
        if self.user_source_columns is None:
            return None
        return [c for c in self.user_source_columns if c[0] != "user_id"]

    def read_interactions(self, buf):
        names = self.inter_names
        iu, ii = names.index("user_id"), names.index("item_id")
        ir = names.index("rating") if self.has_ratings else None
        it = names.index("timestamp") if self.real_timestamps else None
        positions = {}
        first = True
        path = self.inter
        for lineno, line in self.reader.lines(path, desc=os.path.basename(path)):
            if first:
                first = False
                continue
            cells = next(csv.reader([line], delimiter="\t", quotechar='"')) if '"' in line else line.split("\t")
            if len(cells) != len(names):
                self.reader.bad(path, lineno, f"{len(cells)} fields where the header has {len(names)}")
                continue
            user, item = cells[iu], cells[ii]
            if ir is None:
                rating = 1.0
            else:
                rating = parse_float(cells[ir])
                if rating is None:
                    self.reader.bad(path, lineno, f"field 'rating' is not a number: {cells[ir]!r}")
                    continue
            if it is None:
                ts = float(positions.get(user, 0))
                positions[user] = ts + 1
            else:
                ts = parse_float(cells[it])
                if ts is None:
                    self.reader.bad(path, lineno, f"field 'timestamp' is not a number: {cells[it]!r}")
                    continue
            try:
                buf.add(user, item, rating, ts)
            except BadRecord as e:
                self.reader.bad(path, lineno, str(e))

    def _iter_table(self, path, id_name, wanted):
        if not path:
            return
        seen = set()
        for lineno, row in iter_table(path, self.reader):
            token = row.pop(id_name)
            if token in wanted and token not in seen:
                seen.add(token)
                yield token, row

    def iter_items(self, wanted):
        return self._iter_table(self.item_file, "item_id", wanted)

    def iter_users(self, wanted):
        return self._iter_table(self.user_file, "user_id", wanted)

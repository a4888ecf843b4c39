"""P5 / S3-Rec style Amazon sets (e.g. Beauty 2014 5-core): ``user_sequence.txt`` + an item table.

``user_sequence.txt``: one line per user, the user id then the item ids in time order, separated by
spaces. There are no timestamps or ratings: the timestamp written is the position in the user's
sequence (0, 1, ...), the rating 1.

The item table (``--meta``, or the single ``*.item`` file next to the sequences) is a RecBole-style
TSV quoted with ``"`` (fields may hold TABs or newlines inside quotes), e.g. ``Amazon_Beauty.item``
with ``item_id, title, sales_type, sales_rank, categories, price, brand``. Its columns are kept,
with ``title`` written as ``token_seq`` and ``categories`` (a list literal like
``'Beauty', 'Makeup'``) written as a comma-separated list.
"""
import ast
import logging
import os

from .base import Source
from .errors import ConvertError
from .tables import iter_table, read_header
from .text import join_texts, parse_float

logger = logging.getLogger(__name__)


def parse_category_list(value):
    """``"'Beauty', 'Makeup'"`` -> ``"Beauty, Makeup"``; anything else is returned cleaned."""
    text = value.strip()
    if not text:
        return ""
    if text[0] in "'\"[":
        try:
            parsed = ast.literal_eval(text if text.startswith("[") else f"[{text}]")
            if isinstance(parsed, (list, tuple)):
                return join_texts(parsed)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            pass
    return join_texts([text])


class P5Source(Source):
    format_name = "p5"
    description = "P5 processed set: user_sequence.txt (+ <name>.item TSV)"
    uses = ("meta",)
    real_timestamps = False
    has_ratings = False
    default_dedup = "all"

    def prepare(self):
        path = self.inputs.input
        folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
        self.sequences = self.find_in_dir(path, ["user_sequence.txt"], "user_sequence.txt") if os.path.isdir(path) \
            else self.need_file(path, "sequence file")
        self.item_table = self.inputs.meta or self.find_in_dir(folder, ["*.item"], "item table", required=False)
        if self.item_table:
            self.need_file(self.item_table, "item table")
            self.source_columns = read_header(self.item_table)
            if not self.source_columns or self.source_columns[0][0] != "item_id":
                raise ConvertError(f"{self.item_table}: first column must be item_id, got {self.source_columns[:1]}")
        else:
            logger.warning("p5: no item table (*.item) found; items get no fields")
            self.source_columns = [("item_id", "token")]

    def input_paths(self):
        return [p for p in (self.sequences, self.item_table) if p]

    def item_columns_for_output(self):
        out = []
        for name, ftype in self.source_columns[1:]:
            if name in ("title", "categories", "description"):
                ftype = "token_seq"
            out.append((name, ftype))
        return out

    def read_interactions(self, buf):
        path = self.sequences
        for lineno, line in self.reader.lines(path, desc="sequences"):
            parts = line.split()
            if len(parts) < 2:
                self.reader.bad(path, lineno, "expected a user id followed by at least one item id")
                continue
            if '"' in line or "\x00" in line:
                self.reader.bad(path, lineno, "ids must not contain '\"' or NUL")
                continue
            user = parts[0]
            for pos, item in enumerate(parts[1:]):
                buf.add(user, item, 1.0, float(pos))

    def iter_items(self, wanted):
        if not self.item_table:
            return
        types = dict(self.item_columns_for_output())
        seen = set()
        for lineno, row in iter_table(self.item_table, self.reader):
            item = row.pop("item_id").strip()
            if item not in wanted or item in seen:
                continue
            seen.add(item)
            if "categories" in row:
                row["categories"] = parse_category_list(row["categories"])
            for name, ftype in types.items():
                if ftype == "float":
                    row[name] = parse_float(row.get(name))
            yield item, row

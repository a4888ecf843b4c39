"""Amazon Reviews 2023 (Hou et al.): ``.jsonl`` / ``.jsonl.gz`` reviews and item metadata.

Reviews: ``user_id``, ``parent_asin`` (the item; ``asin`` as fallback), ``rating``, ``timestamp``
(Unix milliseconds, converted to seconds), ``title`` (written as the review summary), ``text``.
Metadata: ``parent_asin``, ``title``, ``categories`` (list), ``description`` (list),
``features`` (list), ``store`` (written as brand), ``price``, ``main_category``.
"""
import logging
import os

from .amazon import id_value, rating_value
from .base import Source
from .errors import BadRecord
from .text import join_texts, parse_float, parse_price

logger = logging.getLogger(__name__)


class Amazon2023Source(Source):
    format_name = "amazon2023"
    description = "Amazon Reviews 2023: <Category>.jsonl(.gz) + meta_<Category>.jsonl(.gz)"
    uses = ("meta",)
    item_columns = (
        ("title", "token_seq"),
        ("categories", "token_seq"),
        ("brand", "token"),
        ("description", "token_seq"),
        ("features", "token_seq"),
        ("main_category", "token"),
        ("price", "float"),
    )

    def review_path(self):
        path = self.inputs.input
        if os.path.isdir(path):
            path = self.find_in_dir(path, ["*.jsonl*"], "review file", exclude_prefix="meta")
        return self.need_file(path, "review file")

    def meta_path(self):
        return self.optional_meta(["meta_*.jsonl*"])

    def input_paths(self):
        return [p for p in (self.review_path(), self.meta_path()) if p]

    def read_interactions(self, buf):
        path = self.review_path()
        reader = self.reader
        add = buf.add
        for lineno, rec in reader.records(path, desc="reviews"):
            try:
                user = id_value(rec, "user_id")
                item = id_value(rec, "parent_asin", fallback="asin")
                rating = rating_value(rec, "rating")
                ts = rec.get("timestamp")
                if ts is None or ts == "":
                    raise BadRecord("missing required field 'timestamp'")
                ms = parse_float(ts)
                if ms is None:
                    raise BadRecord(f"field 'timestamp' is not a number: {ts!r}")
                add(user, item, rating, ms / 1000.0, summary=rec.get("title"), text=rec.get("text"))
            except BadRecord as e:
                reader.bad(path, lineno, str(e))

    def iter_items(self, wanted):
        meta = self.meta_path()
        if meta is None:
            logger.warning("amazon2023: no metadata file given (--meta); items get empty fields")
            return
        key_of = lambda r: r.get("parent_asin") or r.get("asin")  # noqa: E731
        for item, rec in self.wanted_records(meta, "metadata", key_of, "parent_asin", wanted, "meta_duplicate_lines"):
            description = rec.get("description")
            yield item, {
                "title": rec.get("title"),
                "categories": join_texts(rec.get("categories") or []),
                "brand": rec.get("store"),
                "description": join_texts(description, " ") if isinstance(description, list) else description,
                "features": join_texts(rec.get("features") or [], " "),
                "main_category": rec.get("main_category"),
                "price": parse_price(rec.get("price")),
            }

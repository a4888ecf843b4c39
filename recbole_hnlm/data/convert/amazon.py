"""Amazon Review Data 2014 and 2018 (McAuley et al.; Ni, Li & McAuley): reviews + metadata.

Reviews: one JSON object per line, ``.json`` or ``.json.gz``, with ``reviewerID``, ``asin``,
``overall`` (rating), ``unixReviewTime`` (Unix seconds; ``reviewTime`` "MM DD, YYYY" as fallback),
``summary`` and ``reviewText``.

Metadata: one object per line; 2014 lines are Python dict literals (``{'asin': ...}``) read with
``ast.literal_eval``. Fields: ``asin``, ``title``, ``brand``, ``price`` (a number in 2014, ``"$12.99"``
in 2018), ``categories`` (2014: list of category paths) or ``category`` (2018: one path),
``description`` (a string in 2014, a list of strings in 2018).
"""
import calendar
import logging
import os
import time

from .base import Source
from .errors import BadRecord
from .text import join_texts, parse_float, parse_price

logger = logging.getLogger(__name__)


def review_time_to_unix(value):
    """Unix seconds (UTC midnight) for the ``reviewTime`` field, e.g. ``"09 13, 2009"``."""
    try:
        return float(calendar.timegm(time.strptime(value.strip(), "%m %d, %Y")))
    except (ValueError, AttributeError):
        raise BadRecord(f"field 'reviewTime' {value!r} is not 'MM DD, YYYY'") from None


def rating_value(record, field):
    value = record.get(field)
    if value is None or value == "":
        raise BadRecord(f"missing required field {field!r}")
    rating = parse_float(value)
    if rating is None:
        raise BadRecord(f"field {field!r} is not a number: {value!r}")
    return rating


def id_value(record, field, fallback=None):
    value = record.get(field)
    if (value is None or value == "") and fallback is not None:
        value = record.get(fallback)
    if value is None or value == "":
        raise BadRecord(f"missing required field {field!r}")
    return value if isinstance(value, str) else str(value)


class AmazonSource(Source):
    """Amazon 2014 / 2018 reviews (``--input``) with optional metadata (``--meta``)."""

    format_name = "amazon2018"
    description = "Amazon Review Data 2018: reviews .json(.gz) + metadata .json(.gz)"
    uses = ("meta",)
    python_literals = False  # 2018 files are strict JSON
    item_columns = (
        ("title", "token_seq"),
        ("categories", "token_seq"),
        ("brand", "token"),
        ("description", "token_seq"),
        ("price", "float"),
    )

    def review_path(self):
        path = self.inputs.input
        if os.path.isdir(path):
            path = self.find_in_dir(path, ["*review*.json*", "*.json.gz", "*.json"], "review file",
                                    exclude_prefix="meta")
        return self.need_file(path, "review file")

    def meta_path(self):
        return self.optional_meta(["meta*.json*", "*meta*.json*"])

    def input_paths(self):
        return [p for p in (self.review_path(), self.meta_path()) if p]

    def read_interactions(self, buf):
        path = self.review_path()
        reader = self.reader
        add = buf.add
        for lineno, rec in reader.records(path, desc="reviews", python_literals=self.python_literals):
            get = rec.get
            user, item, rating, ts = get("reviewerID"), get("asin"), get("overall"), get("unixReviewTime")
            try:
                if not (user.__class__ is str and item.__class__ is str and rating.__class__ is float
                        and ts.__class__ is int and user and item and -1e300 < rating < 1e300):
                    # the slow path validates and converts, with a precise message
                    user, item, rating, ts = self._checked(rec)
                add(user, item, rating, ts, summary=get("summary"), text=get("reviewText"))
            except BadRecord as e:
                reader.bad(path, lineno, str(e))

    @staticmethod
    def _checked(rec):
        """``(user, item, rating, timestamp)`` of a review, converted, or :class:`BadRecord`."""
        user = id_value(rec, "reviewerID")
        item = id_value(rec, "asin")
        rating = rating_value(rec, "overall")
        ts = rec.get("unixReviewTime")
        if ts is None or ts == "":
            if rec.get("reviewTime"):
                return user, item, rating, review_time_to_unix(rec["reviewTime"])
            raise BadRecord("missing required field 'unixReviewTime'")
        value = parse_float(ts)
        if value is None:
            raise BadRecord(f"field 'unixReviewTime' is not a number: {ts!r}")
        return user, item, rating, value

    def iter_items(self, wanted):
        meta = self.meta_path()
        if meta is None:
            logger.warning("%s: no metadata file given (--meta); items get empty fields", self.format_name)
            return
        for asin, rec in self.wanted_records(meta, "metadata", lambda r: r.get("asin"), "asin", wanted,
                                             "meta_duplicate_lines", python_literals=self.python_literals):
            yield asin, self.item_fields(rec)

    @staticmethod
    def item_fields(rec):
        categories = rec.get("categories")
        if categories is None:
            categories = rec.get("category")
        description = rec.get("description")
        return {
            "title": rec.get("title"),
            "categories": join_texts(categories or []),
            "brand": rec.get("brand"),
            "description": join_texts(description, " ") if isinstance(description, list) else description,
            "price": parse_price(rec.get("price")),
        }


class Amazon2014Source(AmazonSource):
    format_name = "amazon2014"
    description = "Amazon Review Data 2014: reviews .json(.gz) + metadata (Python dict literals)"
    python_literals = True  # 2014 files are "loose JSON" (Python literals), at least the metadata

"""Yelp Open Dataset: ``review.json`` (+ ``business.json``, optionally ``user.json``).

Reviews: ``user_id``, ``business_id`` (the item), ``stars`` (rating), ``date``
(``"YYYY-MM-DD HH:MM:SS"``, taken as UTC: Yelp gives local times without a zone), ``text``.
Businesses: ``name`` (written as title), ``categories`` (one comma-separated string), ``city``,
``state``. Users: ``review_count``, ``yelping_since``, ``fans``, ``average_stars``.

``--input`` is the review file or the folder holding the ``yelp_academic_dataset_*.json`` files;
``--meta`` names the business file and ``--users`` the user file when they are elsewhere.
"""
import datetime as _dt
import logging
import os

from .amazon import id_value, rating_value
from .base import Source
from .errors import BadRecord
from .text import join_texts, parse_float

logger = logging.getLogger(__name__)

_EPOCH = _dt.datetime(1970, 1, 1)


def yelp_date_to_unix(value):
    """Unix seconds for ``"YYYY-MM-DD HH:MM:SS"`` (or ``YYYY-MM-DD``), read as UTC."""
    if not isinstance(value, str):
        raise BadRecord(f"field 'date' is not a string: {value!r}")
    try:
        moment = _dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRecord(f"field 'date' {value!r} is not 'YYYY-MM-DD HH:MM:SS'") from None
    if moment.tzinfo is not None:
        return moment.timestamp()
    return (moment - _EPOCH).total_seconds()


class YelpSource(Source):
    format_name = "yelp"
    description = "Yelp Open Dataset: review.json + business.json (+ user.json)"
    uses = ("meta", "users")
    item_columns = (
        ("title", "token_seq"),
        ("categories", "token_seq"),
        ("city", "token"),
        ("state", "token"),
    )
    user_columns = (
        ("review_count", "float"),
        ("yelping_since", "token"),
        ("fans", "float"),
        ("average_stars", "float"),
    )

    def _in_dir(self, patterns, what, required):
        if os.path.isdir(self.inputs.input):
            return self.find_in_dir(self.inputs.input, patterns, what, required=required)
        return None

    def review_path(self):
        path = self.inputs.input
        if os.path.isdir(path):
            path = self._in_dir(["yelp_academic_dataset_review.json*", "review.json*", "*review*.json*"], "review file", True)
        return self.need_file(path, "review file")

    def business_path(self):
        path = self.inputs.meta or self._in_dir(
            ["yelp_academic_dataset_business.json*", "business.json*", "*business*.json*"], "business file", False)
        return self.need_file(path, "business file") if path else None

    def user_path(self):
        path = self.inputs.users or self._in_dir(
            ["yelp_academic_dataset_user.json*", "user.json*"], "user file", False)
        return self.need_file(path, "user file") if path else None

    def input_paths(self):
        return [p for p in (self.review_path(), self.business_path(), self.user_path()) if p]

    def user_columns_for_output(self):
        return list(self.user_columns) if self.user_path() else None

    def read_interactions(self, buf):
        path = self.review_path()
        reader = self.reader
        add = buf.add
        for lineno, rec in reader.records(path, desc="reviews"):
            try:
                user = id_value(rec, "user_id")
                item = id_value(rec, "business_id")
                rating = rating_value(rec, "stars")
                date = rec.get("date")
                if not date:
                    raise BadRecord("missing required field 'date'")
                add(user, item, rating, yelp_date_to_unix(date), text=rec.get("text"))
            except BadRecord as e:
                reader.bad(path, lineno, str(e))

    def iter_items(self, wanted):
        path = self.business_path()
        if path is None:
            logger.warning("yelp: no business file given (--meta); items get empty fields")
            return
        for item, rec in self.wanted_records(path, "businesses", lambda r: r.get("business_id"), "business_id", wanted):
            categories = rec.get("categories")
            if isinstance(categories, str):
                categories = categories.split(",")
            yield item, {
                "title": rec.get("name"),
                "categories": join_texts(categories or []),
                "city": rec.get("city"),
                "state": rec.get("state"),
            }

    def iter_users(self, wanted):
        path = self.user_path()
        if path is None:
            return
        for user, rec in self.wanted_records(path, "users", lambda r: r.get("user_id"), "user_id", wanted):
            yield user, {
                "review_count": parse_float(rec.get("review_count")),
                "yelping_since": rec.get("yelping_since"),
                "fans": parse_float(rec.get("fans")),
                "average_stars": parse_float(rec.get("average_stars")),
            }

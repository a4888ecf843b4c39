"""The interface every source format implements, and how a format finds its input files."""
import glob
import os
from dataclasses import dataclass

from .errors import ConvertError


@dataclass
class Inputs:
    """Where a format reads from: ``input`` (file or folder), optional ``meta`` and ``users`` files."""

    input: str
    meta: str = None
    users: str = None


class Source:
    """One source format.

    A subclass reads interactions into an :class:`~.interactions.InteractionBuffer` and, for the
    items (and users) that survive filtering, yields their fields from the metadata it has.

    Class attributes describe the format:

    * ``real_timestamps`` -- timestamps are real times (date filters allowed), not positions;
    * ``has_ratings`` -- ratings are real (rating filter allowed), not implicit 1.0;
    * ``presplit`` -- rows carry a train/valid/test split and benchmark files are written;
    * ``carve_valid`` -- the source has no validation split; one is carved from train per user;
    * ``default_dedup`` -- the duplicate policy when neither a preset nor ``--dedup`` gives one;
    * ``item_columns`` / ``user_columns`` -- ``(name, type)`` after the id column; ``None`` for
      ``user_columns`` means no ``.user`` file;
    * ``uses`` -- the optional inputs the format reads (``"meta"``, ``"users"``); giving another
      one is an error.
    """

    format_name = ""
    description = ""
    real_timestamps = True
    has_ratings = True
    presplit = False
    carve_valid = False
    default_dedup = "first"
    item_columns = ()
    user_columns = None
    uses = ()
    split_description = ""  # for pre-split sources: what their train/valid/test split is

    def __init__(self, inputs, reader):
        self.inputs = inputs
        self.reader = reader
        self.notes = {}

    def prepare(self):
        """Locate the input files and read headers; errors here come before any output exists."""

    def input_paths(self):
        """Every file this source reads (for the summary and the output-location check)."""
        raise NotImplementedError

    def read_interactions(self, buf):
        raise NotImplementedError

    def iter_items(self, wanted):
        """Yield ``(item_token, {column: value})`` for items in ``wanted`` (each at most once)."""
        return iter(())

    def iter_users(self, wanted):
        """Yield ``(user_token, {column: value})`` for users in ``wanted`` (each at most once)."""
        return iter(())

    def item_columns_for_output(self):
        """The item columns actually written (sources may narrow them to what the input has)."""
        return list(self.item_columns)

    def user_columns_for_output(self):
        return None if self.user_columns is None else list(self.user_columns)

    # helpers for subclasses

    def need_file(self, path, what):
        if path is None or not os.path.isfile(path):
            raise ConvertError(f"{self.format_name}: {what} {path!r} not found")
        return path

    def optional_meta(self, patterns):
        """``--meta``, else the single file of the input folder matching ``patterns``, else None."""
        meta = self.inputs.meta
        if meta is None and os.path.isdir(self.inputs.input):
            meta = self.find_in_dir(self.inputs.input, patterns, "metadata file", required=False)
        return self.need_file(meta, "metadata file") if meta else None

    def wanted_records(self, path, desc, key_of, field, wanted, duplicates_note=None, **read_kw):
        """``(key, record)`` for the records of ``path`` whose key (``key_of(record)``) is in ``wanted``,
        the first of each key only. A record without a key is reported as bad, naming ``field``; later
        lines of a key already seen are counted in ``self.notes[duplicates_note]`` when that is given."""
        seen, duplicates = set(), 0
        for lineno, rec in self.reader.records(path, desc=desc, **read_kw):
            key = key_of(rec)
            if not key:
                self.reader.bad(path, lineno, f"missing required field {field!r}")
                continue
            key = str(key)
            if key not in wanted:
                continue
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            yield key, rec
        if duplicates_note:
            self.notes[duplicates_note] = duplicates

    def find_in_dir(self, folder, patterns, what, required=True, exclude_prefix=None):
        """The single file in ``folder`` matching the first pattern that matches anything
        (names starting with ``exclude_prefix`` are ignored)."""
        for pattern in patterns:
            hits = sorted(glob.glob(os.path.join(folder, pattern)))
            hits = [h for h in hits if os.path.isfile(h)
                    and not (exclude_prefix and os.path.basename(h).startswith(exclude_prefix))]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise ConvertError(f"{folder}: several candidates for the {what} ({', '.join(map(os.path.basename, hits))}); name it explicitly")
        if required:
            raise ConvertError(f"{folder}: no {what} found (looked for {', '.join(patterns)})")
        return None

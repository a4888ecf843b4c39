"""MovieLens (GroupLens): ml-100k raw files, ml-1m ``.dat`` files, or a RecBole atomic copy.

``--input`` is the dataset folder; the layout is detected from the files in it:

* ml-100k: ``u.data`` (``user<TAB>item<TAB>rating<TAB>timestamp``), ``u.item`` (``|``-separated,
  latin-1: id, "Title (Year)", release date, video date, URL, 19 genre flags), ``u.user``
  (id|age|gender|occupation|zip), ``u.genre`` (genre names; the standard 19 are used when absent);
* ml-1m: ``ratings.dat`` (``user::movie::rating::timestamp``), ``movies.dat``
  (``id::Title (Year)::Genre|Genre``, latin-1), ``users.dat`` (``id::gender::age::occupation::zip``);
* a RecBole atomic set (``ml-100k.inter`` ...): handled as the ``atomic`` format.

Items get ``title`` (without the year), ``release_year`` and ``categories`` (the genres).
"""
import os
import re

from .atomic_passthrough import AtomicSource
from .base import Source
from .errors import BadRecord, ConvertError
from .text import parse_float

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)
_TITLE_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")
_YEAR = re.compile(r"(\d{4})")


def split_title(title, release_date=""):
    """``"Toy Story (1995)"`` -> ``("Toy Story", "1995")``; the year falls back to the release date."""
    m = _TITLE_YEAR.match(title.strip())
    if m:
        return m.group(1), m.group(2)
    y = _YEAR.search(release_date or "")
    return title.strip(), y.group(1) if y else ""


class _MovieLensRaw(Source):
    """Shared reading of MovieLens raw files; subclasses set the file names and separators."""

    item_columns = (("title", "token_seq"), ("release_year", "token"), ("categories", "token_seq"))
    user_columns = (("age", "token"), ("gender", "token"), ("occupation", "token"), ("zip_code", "token"))
    ratings_file = items_file = users_file = None
    ratings_sep = meta_sep = None
    encoding = "latin-1"

    def __init__(self, inputs, reader):
        super().__init__(inputs, reader)
        self.folder = inputs.input

    def path(self, name):
        return os.path.join(self.folder, name)

    def input_paths(self):
        return [self.path(n) for n in (self.ratings_file, self.items_file, self.users_file) if os.path.isfile(self.path(n))]

    def user_columns_for_output(self):
        return list(self.user_columns) if os.path.isfile(self.path(self.users_file)) else None

    def read_interactions(self, buf):
        path = self.need_file(self.path(self.ratings_file), "ratings file")
        for lineno, line in self.reader.lines(path, encoding=self.encoding, desc=self.ratings_file):
            parts = line.strip().split(self.ratings_sep)
            if len(parts) != 4:
                self.reader.bad(path, lineno, f"expected 4 fields (user, item, rating, timestamp), got {len(parts)}")
                continue
            rating, ts = parse_float(parts[2]), parse_float(parts[3])
            if rating is None or ts is None:
                self.reader.bad(path, lineno, f"rating {parts[2]!r} or timestamp {parts[3]!r} is not a number")
                continue
            try:
                buf.add(parts[0].strip(), parts[1].strip(), rating, ts)
            except BadRecord as e:
                self.reader.bad(path, lineno, str(e))

    def _rows(self, name, min_fields, wanted):
        """``(id, fields)`` for the rows of a metadata file whose id is in ``wanted``."""
        path = self.path(name)
        if not os.path.isfile(path):
            return
        seen = set()
        for lineno, line in self.reader.lines(path, encoding=self.encoding, desc=name):
            parts = line.split(self.meta_sep)
            if len(parts) < min_fields:
                self.reader.bad(path, lineno, f"expected at least {min_fields} fields, got {len(parts)}")
                continue
            token = parts[0].strip()
            if token in wanted and token not in seen:
                seen.add(token)
                yield token, parts


class MovieLens100KSource(_MovieLensRaw):
    format_name = "movielens"
    description = "ml-100k: u.data, u.item, u.user"
    ratings_file, items_file, users_file = "u.data", "u.item", "u.user"
    ratings_sep, meta_sep = None, "|"  # u.data: TAB (any whitespace accepted)

    def genres(self):
        path = self.path("u.genre")
        if not os.path.isfile(path):
            return ML100K_GENRES
        names = {}
        for lineno, line in self.reader.lines(path, encoding=self.encoding, desc="u.genre"):
            name, _, idx = line.partition("|")
            if idx.strip().isdigit():
                names[int(idx)] = name
        return tuple(names[i] for i in sorted(names))

    def iter_items(self, wanted):
        genres = self.genres()
        for token, parts in self._rows(self.items_file, 5, wanted):
            title, year = split_title(parts[1], parts[2])
            names = [g for g, flag in zip(genres, parts[5:]) if flag.strip() == "1"]
            yield token, {"title": title, "release_year": year, "categories": " ".join(names)}

    def iter_users(self, wanted):
        for token, parts in self._rows(self.users_file, 5, wanted):
            yield token, dict(zip(("age", "gender", "occupation", "zip_code"), parts[1:5]))


class MovieLens1MSource(_MovieLensRaw):
    format_name = "movielens"
    description = "ml-1m: ratings.dat, movies.dat, users.dat"
    ratings_file, items_file, users_file = "ratings.dat", "movies.dat", "users.dat"
    ratings_sep = meta_sep = "::"

    def iter_items(self, wanted):
        for token, parts in self._rows(self.items_file, 3, wanted):
            title, year = split_title(parts[1])
            yield token, {"title": title, "release_year": year, "categories": " ".join(parts[2].split("|"))}

    def iter_users(self, wanted):
        for token, parts in self._rows(self.users_file, 5, wanted):
            yield token, {"gender": parts[1], "age": parts[2], "occupation": parts[3], "zip_code": parts[4]}


def movielens_source(inputs, reader):
    """Pick the MovieLens layout from the files in ``inputs.input``."""
    folder = inputs.input
    if os.path.isfile(folder) and folder.endswith(".inter"):
        return AtomicSource(inputs, reader)
    if not os.path.isdir(folder):
        raise ConvertError(f"movielens: --input must be the dataset folder, not {folder!r}")
    if os.path.isfile(os.path.join(folder, "u.data")):
        return MovieLens100KSource(inputs, reader)
    if os.path.isfile(os.path.join(folder, "ratings.dat")):
        return MovieLens1MSource(inputs, reader)
    if any(f.endswith(".inter") for f in os.listdir(folder)):
        source = AtomicSource(inputs, reader)
        source.format_name = "movielens"
        return source
    raise ConvertError(f"{folder}: no MovieLens files found (u.data, ratings.dat or <name>.inter)")

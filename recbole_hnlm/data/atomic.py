"""Reading RecBole atomic files (``<ds>.inter``, ``<ds>.item``, ``<ds>.user``).

RecBole's own loader only keeps the columns named in ``load_col`` and turns text into token
sequences; the offline side (text for retrieval and LLM prompts) wants the raw strings, keyed by
the original tokens, so it reads the files here with the same conventions: a tab-separated header
of ``name:type`` and ``"`` as the quote character.
"""
import csv
import os

import pandas as pd

ATOMIC_TYPES = {"token", "token_seq", "float", "float_seq"}


class AtomicFileError(ValueError):
    """A RecBole atomic file that cannot be read; the message names the file and what is wrong."""


def parse_header(path, cells):
    """``[(name, type)]`` from the cells of an atomic file's first line (``name:type``).

    An empty name or a type RecBole does not know is an :class:`AtomicFileError` naming the file
    and the column. The one header parser for this package (the converter uses it too).
    """
    columns = []
    for i, cell in enumerate(cells):
        name, sep, ftype = cell.strip().partition(":")
        if not sep or ftype not in ATOMIC_TYPES or not name:
            raise AtomicFileError(
                f"{path}: line 1, column {i + 1} {cell!r} is not 'name:type' with type in {sorted(ATOMIC_TYPES)}"
            )
        columns.append((name, ftype))
    return columns


def read_header(path):
    """The parsed header of an atomic file: ``[(name, type)]``."""
    with open(path, encoding="utf-8") as f:
        return parse_header(path, f.readline().rstrip("\n\r").split("\t"))


def atomic_path(dataset_dir, suffix):
    """``<dataset_dir>/<name>.<suffix>``, the name being the folder's base name (RecBole's layout)."""
    name = os.path.basename(os.path.normpath(dataset_dir))
    return os.path.join(dataset_dir, f"{name}.{suffix}")


def read_atomic(path, columns=None):
    """Read one atomic file into a DataFrame of strings, with the ``:type`` part stripped from names.

    ``columns`` (names without types) restricts what is returned; a missing one is an error.
    """
    if not os.path.isfile(path):
        raise AtomicFileError(f"{path}: no such atomic file")
    names = [name for name, _ in read_header(path)]
    if columns is not None:
        missing = [c for c in columns if c not in names]
        if missing:
            raise AtomicFileError(f"{path}: missing field(s) {missing}; the file has {names}")
    try:
        df = pd.read_csv(
            path, sep="\t", header=0, names=names, dtype=str, keep_default_na=False,
            quotechar='"', quoting=csv.QUOTE_MINIMAL, usecols=columns, engine="c",
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise AtomicFileError(f"{path}: cannot be parsed as a RecBole atomic file: {e}") from e
    return df


def item_texts(dataset_dir, fields=None, id_field="item_id"):
    """Map item token -> one line of text built from the ``.item`` file.

    ``fields`` lists the columns to use, in order; by default every non-id text column
    (``token`` / ``token_seq``), which for ml-100k gives "Toy Story. 1995. Animation Children's Comedy".
    """
    path = atomic_path(dataset_dir, "item")
    if fields is None:
        fields = [name for name, ftype in read_header(path) if ftype in ("token", "token_seq") and name != id_field]
    df = read_atomic(path, columns=[id_field] + list(fields))
    parts = df[list(fields)].apply(lambda col: col.str.strip())
    text = parts.apply(lambda row: ". ".join(v for v in row if v), axis=1) if len(fields) else ""
    return dict(zip(df[id_field], text))

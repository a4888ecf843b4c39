"""Streaming reader for RecBole-style TSV tables (``name:type`` header, ``"`` quoting).

Used for the processed formats whose item files are atomic-like (P5's ``Amazon_Beauty.item``, a
RecBole atomic ``.item`` / ``.user``): fields may be quoted and hold TABs or newlines inside quotes,
which :mod:`csv` handles; the line number reported for a bad row is the one where it ends.
"""
import csv
import os

from .errors import ConvertError
from .output import FIELD_TYPES
from .streams import open_text


def parse_header(path, header_cells):
    """``[(name, type)]`` from the header cells; an unknown type is an error naming the file."""
    columns = []
    for i, cell in enumerate(header_cells):
        name, sep, ftype = cell.strip().partition(":")
        if not sep or ftype not in FIELD_TYPES or not name:
            raise ConvertError(f"{path}: line 1, column {i + 1} {cell!r} is not 'name:type' with type in {list(FIELD_TYPES)}")
        columns.append((name, ftype))
    return columns


def read_header(path, encoding="utf-8"):
    with open_text(path, encoding=encoding, newline="") as f:
        first = f.readline().rstrip("\r\n")
    return parse_header(path, first.split("\t"))


def iter_table(path, reader, encoding="utf-8"):
    """Yield ``(line_number, {name: value})`` for each data row; bad rows go to ``reader.bad``.

    ``reader`` is a :class:`~.streams.LineReader` (its bad-line policy applies).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConvertError(f"{path}: no such input file")
    with open_text(path, encoding=encoding, newline="") as f:
        rows = csv.reader(f, delimiter="\t", quotechar='"', doublequote=True, strict=False)
        try:
            header = next(rows)
        except StopIteration:
            raise ConvertError(f"{path}: empty file (expected a 'name:type' header)") from None
        columns = parse_header(path, header)
        names = [n for n, _ in columns]
        reader.lines_read[path] += 1
        while True:
            try:
                cells = next(rows)
            except StopIteration:
                break
            except csv.Error as e:
                reader.bad(path, rows.line_num, f"cannot be parsed ({e})")
                continue
            except UnicodeDecodeError as e:
                reader.bad(path, rows.line_num + 1, f"not valid {encoding}; cannot read past this point ({e.reason})")
                break
            reader.lines_read[path] = rows.line_num
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if len(cells) != len(names):
                reader.bad(path, rows.line_num, f"{len(cells)} fields where the header has {len(names)}")
                continue
            yield rows.line_num, dict(zip(names, cells))

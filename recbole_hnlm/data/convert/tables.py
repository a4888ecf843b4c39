"""Streaming reader for RecBole-style TSV tables (``name:type`` header, ``"`` quoting).

Used for the item files that are atomic-like (P5's ``Amazon_Beauty.item``, a RecBole atomic
``.item`` / ``.user``, the ``.item`` / ``.text`` of UniSRec-style folders): fields may be quoted and
hold TABs or newlines inside quotes, which :mod:`csv` handles; the line number reported for a bad
row is the one where it ends. The header parser is :func:`recbole_hnlm.data.atomic.parse_header`.
"""
import csv
import os

from ..atomic import AtomicFileError, parse_header as _parse_header
from .errors import ConvertError
from .streams import open_text


def parse_header(path, cells):
    """:func:`recbole_hnlm.data.atomic.parse_header`, raising :class:`ConvertError`."""
    try:
        return _parse_header(path, cells)
    except AtomicFileError as e:
        raise ConvertError(str(e)) from None


def read_header(path, encoding="utf-8"):
    with open_text(path, encoding=encoding, newline="") as f:
        first = f.readline().rstrip("\r\n")
    return parse_header(path, first.split("\t"))


def iter_table(path, reader, encoding="utf-8"):
    """Yield ``(line_number, {name: value})`` for each data row; bad rows go to ``reader.bad``.

    ``reader`` is a :class:`~.streams.LineReader`: its bad-line policy and its handling of
    truncated gzip files apply, and it counts the lines read.
    """
    path = os.fspath(path)
    where = [0]  # the number of the last line handed to csv

    def numbered():
        for lineno, text in reader.lines(path, encoding=encoding, skip_blank=False):
            where[0] = lineno
            yield text + "\n"

    rows = csv.reader(numbered(), delimiter="\t", quotechar='"', doublequote=True, strict=False)
    try:
        header = next(rows)
    except StopIteration:
        raise ConvertError(f"{path}: empty file (expected a 'name:type' header)") from None
    names = [n for n, _ in parse_header(path, header)]
    while True:
        try:
            cells = next(rows)
        except StopIteration:
            break
        except csv.Error as e:
            reader.bad(path, where[0], f"cannot be parsed ({e})")
            continue
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        if len(cells) != len(names):
            reader.bad(path, where[0], f"{len(cells)} fields where the header has {len(names)}")
            continue
        yield where[0], dict(zip(names, cells))

"""Streaming input: gzip-aware line reading with line numbers, progress bars and bad-line policy.

Files are read as bytes, one line at a time, and decoded per line, so that a line that is not valid
UTF-8 (or not valid JSON) is reported with its file and line number, or skipped and counted with
``skip_bad``. Nothing but the current line is held in memory.
"""
import ast
import gzip
import logging
import os
import zlib
from collections import Counter

from tqdm import tqdm

from . import jsonio
from .errors import BadRecord, ConvertError

logger = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
_PROGRESS_EVERY = 1 << 14


def is_gzip(path):
    """True when the file starts with the gzip magic bytes (whatever its name)."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_text(path, encoding="utf-8", newline=None):
    """Open a plain or gzip text file for reading (gzip detected from the content)."""
    if is_gzip(path):
        return gzip.open(path, "rt", encoding=encoding, newline=newline)
    return open(path, "r", encoding=encoding, newline=newline)


def _decompress_exactly(d, chunk):
    """``d.decompress(chunk)``; when the chunk holds corrupt data, the output up to the damaged byte
    is returned with the error (``(data, error)``), so that no readable line is lost with it."""
    before = d.copy()
    try:
        return d.decompress(chunk), None
    except zlib.error:
        pass
    d, out = before, []
    for i in range(len(chunk)):
        try:
            out.append(d.decompress(chunk[i:i + 1]))
        except zlib.error as e:
            return b"".join(out), e
    return b"".join(out), zlib.error("corrupt data")


def gunzip_lines(raw, chunk_size=1 << 16):
    """Yield the lines (bytes, with their ``\\n``) of a gzip stream (several members allowed).

    Decompression is incremental, so every complete line before a damaged or missing part is
    yielded before the error: :class:`EOFError` for a stream that ends early, :class:`zlib.error`
    for corrupt data. The incomplete line at the damage is not yielded.
    """
    d = zlib.decompressobj(wbits=31)
    pending = b""
    while True:
        chunk = raw.read(chunk_size)
        if not chunk:
            break
        while chunk:
            data, error = _decompress_exactly(d, chunk)
            lines = (pending + data).split(b"\n")
            pending = lines.pop()
            for line in lines:
                yield line + b"\n"
            if error is not None:
                raise error
            chunk = b""
            if d.eof:  # end of one gzip member: what follows is another member or zero padding
                chunk = d.unused_data.lstrip(b"\x00")
                d = zlib.decompressobj(wbits=31)
                if not chunk:
                    rest = raw.read(chunk_size).lstrip(b"\x00")
                    if not rest:
                        if pending:
                            yield pending
                        return
                    chunk = rest
    if pending or not d.eof:
        raise EOFError("compressed file ended before the end-of-stream marker was reached")


def parse_json_object(line, python_literals=False):
    """Parse one line holding a JSON object (or, with ``python_literals``, a Python dict literal).

    Amazon 2014 metadata lines are Python dict literals (single quotes), read with
    :func:`ast.literal_eval`, which evaluates literals only and never runs code.
    """
    try:
        obj = jsonio.loads(line)
    except ValueError as e:
        if not python_literals:
            raise BadRecord(f"not valid JSON ({e})") from None
        try:
            obj = ast.literal_eval(line)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError) as e2:
            raise BadRecord(f"neither JSON nor a Python dict literal ({type(e2).__name__}: {e2})") from None
    if not isinstance(obj, dict):
        raise BadRecord(f"expected an object, got {type(obj).__name__}")
    return obj


def require(record, *fields):
    """The values of ``fields`` in ``record``; a missing or null one is a :class:`BadRecord`."""
    values = []
    for f in fields:
        v = record.get(f)
        if v is None or v == "":
            raise BadRecord(f"missing required field {f!r}")
        values.append(v)
    return values


class LineReader:
    """Reads input files line by line and applies the bad-line policy.

    ``skip_bad=False``: the first malformed line raises :class:`ConvertError` naming file and line.
    ``skip_bad=True``: malformed lines are skipped, counted per file, and the first few logged.
    """

    def __init__(self, skip_bad=False, progress=True, max_logged=5):
        self.skip_bad = skip_bad
        self.progress = progress
        self.max_logged = max_logged
        self.bad_lines = Counter()
        self.examples = []
        self.lines_read = Counter()
        self.unreadable_after = {}  # path -> the last line read before a truncated/corrupt gzip stream

    @property
    def total_bad(self):
        return sum(self.bad_lines.values())

    def bad(self, path, lineno, reason):
        """Report one malformed line: raise, or count and go on."""
        where = f"{path}: line {lineno}" if lineno is not None else f"{path}"
        if not self.skip_bad:
            raise ConvertError(f"{where}: {reason} (use --skip-bad to skip malformed lines)")
        self.bad_lines[str(path)] += 1
        if len(self.examples) < self.max_logged:
            self.examples.append(f"{where}: {reason}")
            logger.warning("skipping %s: %s", where, reason)

    def cut_short(self, path, last_good, error):
        """The rest of ``path`` after line ``last_good`` cannot be read (a truncated or corrupt gzip
        stream): raise, or (with ``skip_bad``) keep what was read and warn with the exact count."""
        self.unreadable_after[str(path)] = last_good
        message = (f"{path}: truncated or corrupt after line {last_good} ({error}); lines 1-{last_good} were read, "
                   "the rest of the file cannot be read and its lines cannot be counted")
        if not self.skip_bad:
            raise ConvertError(message + " (use --skip-bad to keep the lines before the damage)")
        logger.warning("%s", message)

    def lines(self, path, encoding="utf-8", desc=None, skip_blank=True):
        """Yield ``(line_number, text)`` for each line of a plain or gzip file, without line ends.

        Lines that cannot be decoded go through :meth:`bad`. Blank lines are skipped silently. A
        truncated or corrupt gzip stream yields every complete line before the damage, then goes
        through :meth:`cut_short`.
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise ConvertError(f"{path}: no such input file")
        size = os.path.getsize(path)
        raw = open(path, "rb", buffering=1 << 20)
        try:
            gz = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            stream = gunzip_lines(raw) if gz else raw
            bar = tqdm(
                total=size, unit="B", unit_scale=True, desc=desc or os.path.basename(path),
                disable=None if self.progress else True, leave=False, mininterval=1.0,
            )
            lineno = 0
            try:
                for lineno, data in enumerate(stream, 1):
                    if not lineno & (_PROGRESS_EVERY - 1):
                        bar.update(raw.tell() - bar.n)
                    try:
                        text = data.decode(encoding)
                    except UnicodeDecodeError as e:
                        self.bad(path, lineno, f"not valid {encoding} ({e.reason} at byte {e.start})")
                        continue
                    text = text.rstrip("\r\n")
                    if skip_blank and (not text or text.isspace()):
                        continue
                    yield lineno, text
            except (EOFError, zlib.error) as e:
                self.cut_short(path, lineno, f"{type(e).__name__}: {e}")
            finally:
                self.lines_read[path] += lineno
                bar.update(size - bar.n)
                bar.close()
        finally:
            raw.close()

    def records(self, path, desc=None, python_literals=False):
        """Yield ``(line_number, dict)`` for a file of one JSON object (or dict literal) per line."""
        for lineno, line in self.lines(path, desc=desc):
            try:
                yield lineno, parse_json_object(line, python_literals)
            except BadRecord as e:
                self.bad(path, lineno, str(e))

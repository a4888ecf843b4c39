"""Writing a dataset folder atomically, and the atomic-file table writer.

Everything is written into a temporary sibling directory (``.<ds>.partial-XXXX`` next to the
output) that is renamed into place only when complete. On any error, or Ctrl-C, the temporary
directory is removed and an existing output is left untouched. When an output already exists it is
first renamed aside (``.<ds>.old-XXXX``), the new one renamed in, and the old one then deleted; if
the second rename fails the old one is put back.
"""
import logging
import os
import shutil
import tempfile

from .errors import ConvertError
from .text import clean_text, format_float

logger = logging.getLogger(__name__)

FIELD_TYPES = ("token", "token_seq", "float", "float_seq")


class AtomicOutput:
    """Context manager for one dataset folder; ``path(suffix)`` names ``<tmp>/<ds>.<suffix>``."""

    def __init__(self, output_dir):
        self.final = os.path.abspath(os.fspath(output_dir))
        self.name = os.path.basename(self.final.rstrip(os.sep))
        if not self.name or self.name.startswith("."):
            raise ConvertError(f"{output_dir}: the output folder name (the dataset name) must not be empty or start with '.'")
        self.parent = os.path.dirname(self.final)
        self.tmp = None
        self.committed = False

    def __enter__(self):
        os.makedirs(self.parent, exist_ok=True)
        if os.path.exists(self.final) and not os.path.isdir(self.final):
            raise ConvertError(f"{self.final}: exists and is not a folder")
        self.tmp = tempfile.mkdtemp(prefix=f".{self.name}.partial-", dir=self.parent)
        return self

    def path(self, suffix):
        return os.path.join(self.tmp, f"{self.name}.{suffix}")

    def scratch(self, filename):
        """A path for a temporary working file, removed before the folder is committed."""
        return os.path.join(self.tmp, f".scratch-{filename}")

    def commit(self):
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o777 & ~umask)  # mkdtemp made it private
        for entry in os.listdir(self.tmp):
            if entry.startswith(".scratch-"):
                os.remove(os.path.join(self.tmp, entry))
        old = None
        if os.path.exists(self.final):
            old = tempfile.mkdtemp(prefix=f".{self.name}.old-", dir=self.parent)
            os.rmdir(old)
            os.rename(self.final, old)
        try:
            os.rename(self.tmp, self.final)
        except BaseException:
            if old is not None:
                os.rename(old, self.final)
            raise
        self.committed = True
        self.tmp = None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def __exit__(self, exc_type, exc, tb):
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
        return False


class TableWriter:
    """Writes one atomic file (``.item`` / ``.user``): a ``name:type`` header then cleaned rows.

    ``columns`` is a list of ``(name, type)``; the first is the id column. Values are cleaned by
    type: text through :func:`~.text.clean_text`, floats through :func:`~.text.format_float`.
    """

    def __init__(self, path, columns):
        for name, ftype in columns:
            if ftype not in FIELD_TYPES or ":" in name or not name:
                raise ValueError(f"bad atomic column {name}:{ftype}")
        self.columns = list(columns)
        self.path = path
        self.rows = 0
        self._f = open(path, "w", encoding="utf-8", newline="\n")
        self._f.write("\t".join(f"{n}:{t}" for n, t in self.columns) + "\n")

    def write(self, token, values=None):
        values = values or {}
        cells = [token]
        for name, ftype in self.columns[1:]:
            v = values.get(name)
            if ftype == "float":
                cells.append(format_float(v) if isinstance(v, (int, float)) or v is None else _float_cell(v))
            elif ftype == "float_seq":
                cells.append(" ".join(format_float(x) for x in (v or ())))
            else:
                cells.append(clean_text(v))
        self._f.write("\t".join(cells) + "\n")
        self.rows += 1

    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _float_cell(v):
    try:
        return format_float(float(v))
    except (TypeError, ValueError):
        return ""

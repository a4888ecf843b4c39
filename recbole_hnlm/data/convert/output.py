"""Writing a dataset folder safely, and the atomic-file table writer.

Everything is written into a temporary sibling folder (``.<ds>.partial-XXXX`` next to the output,
holding a ``.recbole-hnlm-partial.json`` with the writer's pid) and moved into place only when
complete. On any error, Ctrl-C or SIGTERM the temporary folder is removed and an existing output is
left untouched.

The output folder gets a marker, ``.recbole-hnlm-convert.json``, listing the files the converter
wrote there. A non-empty folder without it is refused (it may be ``atomic_data/`` itself, or hold
someone else's files), except the output of an older converter, recognised by its
``<ds>.stats.json``. A re-conversion replaces only the files listed in the marker and keeps
everything else (``hnlm/`` feature sets, ``llm_cache.sqlite``, ...).

Replacing files in an existing folder is a journalled swap: the marker is first rewritten with
``"pending": ".<ds>.partial-XXXX"``, then the new files are moved in one by one (``os.replace``),
the old converter files that have no new version removed, and the marker rewritten without
``pending``. A run killed in between leaves the marker pointing at the complete partial folder; the
next run finishes the swap. It also removes partial folders of dead runs and restores a
``.<ds>.old-XXXX`` folder an older converter left when killed between its two renames.
"""
import glob
import json
import logging
import os
import shutil
import signal
import tempfile
import threading

from ...files import atomic_write_json
from ..atomic import ATOMIC_TYPES
from .errors import ConvertError
from .text import clean_text, format_float

logger = logging.getLogger(__name__)

FIELD_TYPES = ATOMIC_TYPES
MARKER = ".recbole-hnlm-convert.json"
PARTIAL_MARKER = ".recbole-hnlm-partial.json"
# what an older converter (before the marker) wrote into <ds>/
LEGACY_SUFFIXES = ("inter", "train.inter", "valid.inter", "test.inter", "item", "user", "reviews.jsonl", "yaml",
                   "stats.json", "stats.md")


class Terminated(KeyboardInterrupt):
    """SIGTERM during a conversion: handled like Ctrl-C (the partial output is removed)."""


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _alive(pid):
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError, OverflowError):
        return False
    except PermissionError:
        return True
    return True


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
        self.old_files = set()
        self._handlers = {}
        self._in_commit = False
        self._deferred = None

    def __enter__(self):
        os.makedirs(self.parent, exist_ok=True)
        if os.path.exists(self.final) and not os.path.isdir(self.final):
            raise ConvertError(f"{self.final}: exists and is not a folder")
        self.recover()
        self.old_files = self._owned_files()
        self._catch_signals()  # before the partial folder exists, so a signal can never leave it behind
        try:
            self.tmp = tempfile.mkdtemp(prefix=f".{self.name}.partial-", dir=self.parent)
            atomic_write_json(os.path.join(self.tmp, PARTIAL_MARKER), {"pid": os.getpid(), "dataset": self.name}, indent=1)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def path(self, suffix):
        return os.path.join(self.tmp, f"{self.name}.{suffix}")

    def scratch(self, filename):
        """A path for a temporary working file, removed before the folder is committed."""
        return os.path.join(self.tmp, f".scratch-{filename}")

    # -- what is ours

    def _owned_files(self):
        """The files of an existing output folder that the converter wrote (may be replaced)."""
        if not os.path.isdir(self.final) or not os.listdir(self.final):
            return set()
        marker = _read_json(os.path.join(self.final, MARKER))
        if marker is not None:
            return set(marker.get("files", ()))
        stats = _read_json(os.path.join(self.final, f"{self.name}.stats.json"))
        if stats is not None and stats.get("dataset") == self.name and "format" in stats:
            owned = {f"{self.name}.{s}" for s in LEGACY_SUFFIXES if os.path.isfile(self.path_in_final(s))}
            logger.info("%s: output of an older converter (no %s); its files %s may be replaced",
                        self.final, MARKER, sorted(owned))
            return owned
        entries = sorted(os.listdir(self.final))
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise ConvertError(
            f"{self.final}: the folder is not empty ({shown}) and was not written by the converter (no {MARKER}); "
            f"refusing to write there, to never replace or delete files the converter did not write. "
            f"Give the dataset folder itself, e.g. --output {os.path.join(self.final, '<dataset>')}, or an empty folder")

    def path_in_final(self, suffix):
        return os.path.join(self.final, f"{self.name}.{suffix}")

    # -- crash recovery

    def recover(self):
        """Finish an interrupted swap, restore or report older leftovers, remove dead partial output."""
        marker_path = os.path.join(self.final, MARKER)
        marker = _read_json(marker_path) if os.path.isdir(self.final) else None
        if marker and marker.get("pending"):
            partial = os.path.join(self.parent, marker["pending"])
            if "files" in (_read_json(os.path.join(partial, PARTIAL_MARKER)) or {}):
                _finish_swap(self.final, partial)
                logger.warning("%s: finished an interrupted swap from %s", self.final, partial)
            else:
                marker.pop("pending")
                atomic_write_json(marker_path, marker, indent=1)
                logger.warning("%s: an interrupted swap's folder %s is gone; the files listed in %s are kept as they are",
                               self.final, partial, MARKER)
        stray = os.path.join(self.final, PARTIAL_MARKER)
        if os.path.isfile(stray):  # killed right after renaming a new folder into place
            os.remove(stray)
        for old in sorted(glob.glob(os.path.join(self.parent, f".{glob.escape(self.name)}.old-*"))):
            if os.path.isdir(old) and not os.path.exists(self.final):
                os.rename(old, self.final)
                logger.warning("%s: restored from %s, left by a conversion killed while swapping folders", self.final, old)
            elif os.path.isdir(old):
                logger.warning("%s: left by an interrupted older conversion; not removed, since it may hold files of "
                               "yours (e.g. hnlm/): check it and delete it yourself", old)
        for partial in sorted(glob.glob(os.path.join(self.parent, f".{glob.escape(self.name)}.partial-*"))):
            info = _read_json(os.path.join(partial, PARTIAL_MARKER))
            if info is None or _alive(info.get("pid")):
                continue  # not ours, or a conversion still running
            shutil.rmtree(partial, ignore_errors=True)
            logger.warning("%s: removed the partial output of a conversion that was killed", partial)

    # -- commit

    def commit(self):
        self._in_commit = True  # Ctrl-C / SIGTERM now wait until the folder is consistent
        try:
            self._commit()
        finally:
            self._in_commit = False
        if self._deferred is not None:
            self._raise(self._deferred)

    def _commit(self):
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o777 & ~umask)  # mkdtemp made it private
        for entry in os.listdir(self.tmp):
            if entry.startswith(".scratch-"):
                os.remove(os.path.join(self.tmp, entry))
        new_files = sorted(e for e in os.listdir(self.tmp) if e != PARTIAL_MARKER)
        if not os.path.exists(self.final):
            atomic_write_json(os.path.join(self.tmp, MARKER), {"written_by": __package__, "dataset": self.name,
                                                        "files": new_files}, indent=1)
            os.rename(self.tmp, self.final)
            os.remove(os.path.join(self.final, PARTIAL_MARKER))
        else:
            conflicts = [f for f in new_files if f not in self.old_files and os.path.lexists(os.path.join(self.final, f))]
            if conflicts:
                raise ConvertError(
                    f"{self.final}: {', '.join(conflicts)} would be overwritten but was not written by the converter "
                    f"(not listed in {MARKER}); move it away or choose another --output")
            info = _read_json(os.path.join(self.tmp, PARTIAL_MARKER))
            atomic_write_json(os.path.join(self.tmp, PARTIAL_MARKER), dict(info, files=new_files), indent=1)
            atomic_write_json(os.path.join(self.final, MARKER), {
                "written_by": __package__, "dataset": self.name, "files": sorted(self.old_files | set(new_files)),
                "pending": os.path.basename(self.tmp)}, indent=1)
            partial, self.tmp = self.tmp, None  # from here the swap owns it: finished now or by the next run
            _finish_swap(self.final, partial)
        self.committed = True
        self.tmp = None

    # -- signals and cleanup

    def _catch_signals(self):
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._handlers[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum, frame):
        if self._in_commit:
            self._deferred = signum
            return
        self._raise(signum)

    @staticmethod
    def _raise(signum):
        raise Terminated("SIGTERM") if signum == signal.SIGTERM else KeyboardInterrupt()

    def __exit__(self, exc_type, exc, tb):
        for signum, handler in self._handlers.items():
            signal.signal(signum, handler)
        self._handlers = {}
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
        return False


def _finish_swap(final, partial):
    """Move the files of a complete partial folder into ``final`` and make the marker list them."""
    info = _read_json(os.path.join(partial, PARTIAL_MARKER)) or {}
    new_files = info.get("files", [])
    marker = _read_json(os.path.join(final, MARKER)) or {}
    for name in new_files:
        if os.path.lexists(os.path.join(partial, name)):
            os.replace(os.path.join(partial, name), os.path.join(final, name))
    for name in set(marker.get("files", ())) - set(new_files):
        path = os.path.join(final, name)
        if os.path.isfile(path) or os.path.islink(path):
            os.remove(path)
    marker.pop("pending", None)
    atomic_write_json(os.path.join(final, MARKER), dict(marker, files=sorted(new_files)), indent=1)
    shutil.rmtree(partial, ignore_errors=True)


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

"""Files written whole or not at all."""
import json
import os
import threading


def atomic_write_json(path, obj, **dump_options):
    """Write ``obj`` as JSON to ``path`` in one step: a temporary file beside it, named for this process and
    thread (two writers of one path never share it), flushed to disk and renamed over ``path``, so that a
    reader or a crash never leaves half a file. ``dump_options`` go to :func:`json.dump`."""
    tmp = f"{path}.{os.getpid()}-{threading.get_ident()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, **dump_options)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise

"""JSON encoding and decoding for the hot paths, with ``orjson`` as an optional accelerator.

When ``orjson`` is importable it is used (several times faster on review dumps); otherwise, and for
the rare inputs ``orjson`` refuses but the standard library accepts (``NaN``, lone surrogates), the
standard :mod:`json` module is used, so results never depend on which one is installed.
"""
import json

try:  # optional: not a dependency of the package
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None


def loads(text):
    """Parse JSON text; raises :class:`ValueError` when it is not valid JSON."""
    if _orjson is not None:
        try:
            return _orjson.loads(text)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(text)


def dumps(obj):
    """One line of JSON (non-ASCII kept as UTF-8 text)."""
    if _orjson is not None:
        try:
            return _orjson.dumps(obj).decode("utf-8")
        except TypeError:
            pass
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))

"""Cleaning text and numbers for RecBole atomic files.

Atomic files are tab-separated with ``"`` as the quote character, and RecBole splits ``token_seq``
fields on spaces. Every text value written by the converters goes through :func:`clean_text`, which
removes what would break a reader: TABs, newlines and every other whitespace or control character
become one space, and ``"`` becomes ``''`` (which keeps the meaning of ``12" ruler``).
"""
import html
import math
import re

_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_TAG = re.compile(r"<[^<>]{0,200}>")
_PRICE = re.compile(r"\d[\d,]*(?:\.\d+)?")
_ID_FORBIDDEN = re.compile(r'[\t\n\r"\x00]')


def clean_text(value):
    """One line of plain text: HTML entities decoded, tags removed, whitespace collapsed, no ``"``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        if isinstance(value, (list, tuple)):
            return join_texts(value, " ")
        value = str(value)
    if "&" in value:
        value = html.unescape(value)
    if "<" in value:
        value = _TAG.sub(" ", value)
    value = _CONTROL.sub("", value)
    value = value.replace('"', "''")
    return _WHITESPACE.sub(" ", value).strip()


def join_texts(values, sep=", "):
    """Clean every element of a (possibly nested) list and join the non-empty ones with ``sep``.

    Repeated elements are kept once, in first-seen order (category paths of Amazon 2014 repeat
    their top levels across the lists of lists).
    """
    out = []
    seen = set()

    def visit(v):
        if v is None:
            return
        if isinstance(v, (list, tuple)):
            for x in v:
                visit(x)
            return
        s = clean_text(v)
        if s and s not in seen:
            seen.add(s)
            out.append(s)

    visit(values)
    return sep.join(out)


def parse_float(value):
    """A finite float from a number or numeric string, else ``None``."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def parse_price(value):
    """A price from ``12.99``, ``"$12.99"`` or ``"$10.00 - $15.99"`` (the first number), else ``None``.

    Long strings are not prices (some Amazon 2018 metadata holds HTML or JavaScript there).
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return parse_float(value)
    if not isinstance(value, str) or len(value) > 40:
        return None
    m = _PRICE.search(value)
    return parse_float(m.group(0).replace(",", "")) if m else None


def format_float(value):
    """A float as written to atomic files: integers without ``.0``, empty for missing values."""
    if value is None:
        return ""
    value = float(value)
    if not math.isfinite(value):
        return ""
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def bad_id_reason(token):
    """Why ``token`` cannot be a user or item id in an atomic file, or ``None`` when it can."""
    if not token:
        return "empty id"
    if _ID_FORBIDDEN.search(token):
        return f"id {token!r} contains a TAB, newline, NUL or '\"'"
    if token != token.strip():
        return f"id {token!r} has leading or trailing spaces"
    return None

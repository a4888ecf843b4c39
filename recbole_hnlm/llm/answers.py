"""Reading the LLM's answers: JSON repair and the checks of each stage's output.

LLMs, small ones above all, wrap JSON in code fences, add prose around it, leave trailing
commas, use typographic quotes or stop before the closing brackets. :func:`parse_json_answer`
repairs what can be repaired without guessing content; anything else is an :class:`AnswerError`
whose message is shown to the model when the request is retried with a stricter instruction.
"""
import json
import re


class AnswerError(ValueError):
    """An answer that is not usable; the message says why (it is sent back on a retry)."""


_FENCE_RE = re.compile(r"```(?:json|JSON)?\s*(.*?)(?:```|$)", re.S)
_TRAILING_COMMA_RE = re.compile(r",(\s*[}\]])")
_QUOTES = {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'", "\u2019": "'"}


def _balanced_object(text):
    """The first ``{...}`` of ``text`` with brackets balanced outside strings, or the unclosed tail.

    Returns ``(fragment, closed)``; when the text ends inside the object, ``fragment`` is the rest of
    the text and ``closed`` is False, with the stack of brackets still open appended by the caller.
    """
    start = text.find("{")
    if start < 0:
        return None, False, []
    stack, in_str, escape = [], False, False
    for i in range(start, len(text)):
        c = text[i]
        if in_str:
            if escape:
                escape = False
            elif c == "\\":
                escape = True
            elif c == '"':
                in_str = False
            continue
        if c == '"':
            in_str = True
        elif c in "{[":
            stack.append(c)
        elif c in "}]":
            if not stack:
                break
            stack.pop()
            if not stack:
                return text[start:i + 1], True, []
    return text[start:], False, stack + (['"'] if in_str else [])


def _close(fragment, open_stack):
    """Close a truncated object: end an open string, drop a dangling key or comma, close brackets."""
    out = fragment
    if open_stack and open_stack[-1] == '"':
        out += '"'
        open_stack = open_stack[:-1]
    out = out.rstrip()
    out = re.sub(r',\s*"[^"]*"\s*:?\s*$', "", out)  # a key with no value yet
    out = re.sub(r'[,:]\s*$', "", out)
    closing = {"{": "}", "[": "]"}
    return out + "".join(closing[c] for c in reversed(open_stack))


def parse_json_answer(text):
    """The JSON object in an LLM answer, repaired where that is safe; raises :class:`AnswerError`.

    Tried in order: the text as is; the inside of a code fence; the first balanced ``{...}``; the
    same with typographic quotes and trailing commas fixed; a truncated object closed.
    """
    if text is None or not str(text).strip():
        raise AnswerError("the answer is empty")
    text = str(text).strip()
    candidates = [text]
    fence = _FENCE_RE.search(text)
    if fence:
        candidates.append(fence.group(1).strip())
    fragment, closed, stack = _balanced_object(fence.group(1) if fence else text)
    if fragment is None and fence:
        fragment, closed, stack = _balanced_object(text)
    if fragment is not None:
        candidates.append(fragment if closed else _close(fragment, stack))
    seen = set()
    for cand in candidates:
        for variant in (cand, _TRAILING_COMMA_RE.sub(r"\1", "".join(_QUOTES.get(c, c) for c in cand))):
            if variant in seen:
                continue
            seen.add(variant)
            try:
                value = json.loads(variant)
            except ValueError:
                continue
            if isinstance(value, (dict, list)):
                return value
    if fragment is None:
        raise AnswerError("the answer holds no JSON object")
    raise AnswerError("the answer is not valid JSON")


def _text(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, (list, tuple)):
        return " ".join(_text(v) for v in value if _text(v))
    if isinstance(value, dict):
        return " ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)


def _lower_keys(obj):
    return {str(k).strip().lower(): v for k, v in obj.items()}


def check_profile(value):
    """A profile of Eq. 2-3: ``{"summarization": str (non-empty), "reasoning": str}``."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        value = value[0]
    if not isinstance(value, dict):
        raise AnswerError(f"expected a JSON object, got a JSON {type(value).__name__}")
    obj = _lower_keys(value)
    summary = _text(obj.get("summarization", obj.get("summary")))
    if not summary:
        raise AnswerError('the field "summarization" is missing or empty')
    return {"summarization": summary, "reasoning": _text(obj.get("reasoning"))}


def check_negatives(value, k):
    """Hard negatives of Eq. 4: ``{"hard_negatives": [{"title", "description"}, ...]}``.

    Accepts a bare list, and strings as titles. Keeps at most ``k``; fewer than one is an error
    (fewer than ``k`` is accepted here and padded at export, and counted in the summary).
    """
    if isinstance(value, dict):
        obj = _lower_keys(value)
        items = None
        for name in ("hard_negatives", "negatives", "items", "hard_negative_items"):
            if isinstance(obj.get(name), list):
                items = obj[name]
                break
        if items is None and ("title" in obj or "name" in obj):
            items = [value]
        if items is None:
            raise AnswerError('the field "hard_negatives" (a list) is missing')
    elif isinstance(value, list):
        items = value
    else:
        raise AnswerError(f"expected a JSON object, got a JSON {type(value).__name__}")
    out = []
    for entry in items:
        if isinstance(entry, str):
            title, desc = _text(entry), ""
        elif isinstance(entry, dict):
            e = _lower_keys(entry)
            title = _text(e.get("title", e.get("name", e.get("item"))))
            desc = _text(e.get("description", e.get("reason", e.get("reasoning"))))
        else:
            continue
        if title and all(title.lower() != o["title"].lower() for o in out):
            out.append({"title": title, "description": desc})
    if not out:
        raise AnswerError('"hard_negatives" holds no item with a non-empty "title"')
    return {"hard_negatives": out[:k]}


def check_choice(value, n):
    """LLMRec's augmentation answer: ``{"liked": a, "disliked": b}``, two different numbers in 1..n."""
    if not isinstance(value, dict):
        raise AnswerError(f"expected a JSON object, got a JSON {type(value).__name__}")
    obj = _lower_keys(value)
    picks = []
    for name in ("liked", "disliked"):
        v = obj.get(name)
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v.strip())
        if isinstance(v, bool) or not isinstance(v, int):
            raise AnswerError(f'the field "{name}" must be a candidate number, got {json.dumps(v)}')
        if not 1 <= v <= n:
            raise AnswerError(f'the field "{name}" must be between 1 and {n}, got {v}')
        picks.append(v)
    if picks[0] == picks[1]:
        raise AnswerError('"liked" and "disliked" must be different candidates')
    return {"liked": picks[0], "disliked": picks[1]}

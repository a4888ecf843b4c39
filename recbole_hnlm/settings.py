"""The plugin's settings as its yamls declare them, and the checks of a config against them.

Every plugin key in ``recbole_hnlm/properties/**.yaml`` carries its declaration in its comment,
``key: default  # (type[: choice|choice][, range]) description``, for example::

    mix_alpha: 0.0       # (float, 0..1) alpha of Eq. 7.
    n_hard: 1            # (int, >=1) Hard negatives averaged per pair.
    neg_sampler: rns     # (str: rns|dns|mixgcf|ahns) Negative sampler.

Types: int, float (an int is accepted and made a float), bool, str, list (``[a,b]`` given as text
is split), dict. Ranges: ``lo..hi`` (inclusive; either end may be left out), ``>=x``, ``>x``, ``<=x``,
``<x``. A key whose default is ``~`` in some plugin yaml may also be None. The yamls stay the one source of the defaults; this
module only reads them. RecBole's own keys are RecBole's business and pass through untouched.
"""
import difflib
import functools
import glob
import os
import re
import warnings
from dataclasses import dataclass, replace
from typing import Optional, Tuple

import yaml

PROPERTIES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "properties")
TYPES = {"int": int, "float": float, "bool": bool, "str": str, "list": (list, tuple), "dict": dict}
PASS_THROUGH_PREFIXES = ("bench_",)  # the benchmark's own keys (recbole_hnlm/benchmark/grid.py)
# keys of the command lines (run_recbole_hnlm.py, RecBole's run_recbole.py) that RecBole's Config also sees
CLI_KEYS = ("model", "dataset", "config_files", "saved", "nproc", "ip", "port", "world_size", "group_offset", "offset")
SUGGEST_CUTOFF = 0.8  # difflib ratio above which an unknown key is taken for a typo of a plugin key

_LINE = re.compile(r"^(?P<key>[A-Za-z_]\w*)\s*:(?P<value>[^#]*)#\s*\((?P<spec>[^)]*)\)")
_SPEC = re.compile(r"^(?P<type>\w+)\s*(?::\s*(?P<choices>[^,]+))?\s*(?:,\s*(?P<range>.+))?$")
_BOUND = re.compile(r"^(?P<op>>=|>|<=|<)\s*(?P<x>[-+.\w]+)$")


class SettingError(ValueError):
    """A setting that its declaration does not allow; the message names the key and the value."""


@dataclass(frozen=True)
class Declaration:
    key: str
    type: str
    choices: Optional[Tuple[str, ...]] = None
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    high_open: bool = False
    nullable: bool = False
    source: str = ""

    def describe(self):
        """``float in 0..1``, ``str: rns|dns``: what the declaration allows, in its own words."""
        text = self.type
        if self.choices:
            text += ": " + "|".join(self.choices)
        if self.low is not None or self.high is not None:
            text += " " + _range_text(self)
        return text + (" or None" if self.nullable else "")

    def check(self, value):
        """``value`` as the declaration types it (int -> float, a number -> str), or a :class:`SettingError`."""
        if value is None:
            if self.nullable:
                return None
            raise self._error(value, f"needs a value ({self.describe()})")
        typed = value
        if self.type == "float" and isinstance(value, int) and not isinstance(value, bool):
            typed = float(value)
        elif self.type == "str" and isinstance(value, (int, float)) and not isinstance(value, bool):
            typed = str(value)  # RecBole's command line reads --scft_run=1 as the number 1
        elif self.type == "list" and isinstance(value, str):  # and --scft_lora_targets=[q_proj,v_proj] as text
            typed = [v.strip().strip("'\"") for v in value.strip().strip("[]").split(",") if v.strip()]
        if not isinstance(typed, TYPES[self.type]) or (self.type in ("int", "float") and isinstance(typed, bool)):
            raise self._error(value, f"expected {self.describe()}, got {type(value).__name__}")
        if self.choices and typed not in self.choices:
            raise self._error(value, f"choose one of {'|'.join(self.choices)}")
        if not _in_range(self, typed):
            raise self._error(value, f"must be {_range_text(self)}")
        return typed

    def _error(self, value, why):
        return SettingError(f"setting {self.key}={value!r}: {why} (declared in {self.source})")


def _range_text(d):
    if d.low is not None and d.high is not None and not (d.low_open or d.high_open):
        return f"in {_num(d.low)}..{_num(d.high)}"
    parts = []
    if d.low is not None:
        parts.append(f"{'>' if d.low_open else '>='}{_num(d.low)}")
    if d.high is not None:
        parts.append(f"{'<' if d.high_open else '<='}{_num(d.high)}")
    return " and ".join(parts)


def _num(x):
    return str(int(x)) if float(x).is_integer() else str(x)


def _in_range(d, value):
    if d.low is not None and (value < d.low or (d.low_open and value == d.low)):
        return False
    return d.high is None or not (value > d.high or (d.high_open and value == d.high))


def parse_declaration(key, spec, where, nullable=False):
    """The :class:`Declaration` written as ``spec`` (the text in the comment's parentheses)."""
    m = _SPEC.match(spec.strip())
    if not m or m["type"] not in TYPES:
        raise ValueError(f"{where}: {key}: cannot read the declaration ({spec}); expected (type[: a|b][, range]) "
                         f"with type one of {', '.join(TYPES)}")
    fields = {"key": key, "type": m["type"], "nullable": nullable, "source": where}
    if m["choices"]:
        fields["choices"] = tuple(c.strip() for c in m["choices"].split("|"))
    if m["range"]:
        fields.update(_parse_range(m["range"].strip(), f"{where}: {key}"))
    return Declaration(**fields)


def _parse_range(text, where):
    try:
        if ".." in text:
            low, high = (t.strip() for t in text.split("..", 1))
            return {"low": float(low) if low else None, "high": float(high) if high else None}
        m = _BOUND.match(text)
        if m:
            side = "low" if m["op"].startswith(">") else "high"
            return {side: float(m["x"]), f"{side}_open": len(m["op"]) == 1}
    except ValueError:
        pass
    raise ValueError(f"{where}: cannot read the range {text!r}; write lo..hi, >=x, >x, <=x or <x")


def _display(path):
    return os.path.relpath(path, os.path.dirname(os.path.dirname(PROPERTIES_DIR)))


@functools.lru_cache(maxsize=None)
def declarations():
    """``{key: Declaration}`` of every declared key of the plugin's yamls (read once).

    A key declared in several files (``mix_alpha`` in hnlm.yaml and the model yamls) must be declared alike.
    """
    found, nullable = {}, set()
    for path in sorted(glob.glob(os.path.join(PROPERTIES_DIR, "**", "*.yaml"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        nullable.update(k for k, v in (yaml.safe_load(text) or {}).items() if v is None)
        for n, line in enumerate(text.splitlines(), 1):
            m = _LINE.match(line)
            if not m:
                continue
            d = parse_declaration(m["key"], m["spec"], f"{_display(path)}:{n}")
            old = found.setdefault(d.key, d)
            if replace(old, source="") != replace(d, source=""):
                raise ValueError(f"{d.source}: {d.key} is declared ({d.describe()}) but {old.source} "
                                 f"declares it ({old.describe()}); make them agree")
    return {k: replace(d, nullable=k in nullable) for k, d in found.items()}


@functools.lru_cache(maxsize=None)
def plugin_keys():
    """Every top-level key of the plugin's yamls, declared or not (RecBole keys it sets included)."""
    keys = set()
    for path in glob.glob(os.path.join(PROPERTIES_DIR, "**", "*.yaml"), recursive=True):
        with open(path, encoding="utf-8") as f:
            keys.update(yaml.safe_load(f) or {})
    return frozenset(keys)


@functools.lru_cache(maxsize=None)
def recbole_keys():
    """Keys RecBole knows: its yamls, its argument lists, what its code reads as ``config[...]``."""
    import recbole
    from recbole.utils import argument_list

    root = os.path.dirname(os.path.abspath(recbole.__file__))
    keys = set(CLI_KEYS)
    for name in ("general_arguments", "training_arguments", "evaluation_arguments", "dataset_arguments"):
        keys.update(getattr(argument_list, name, ()))
    for path in glob.glob(os.path.join(root, "properties", "**", "*.yaml"), recursive=True):
        with open(path, encoding="utf-8") as f:
            loaded = yaml.safe_load(f)
        if isinstance(loaded, dict):
            keys.update(loaded)
    read = re.compile(r"""config\[\s*["'](\w+)["']\s*\]""")
    for path in glob.glob(os.path.join(root, "**", "*.py"), recursive=True):
        with open(path, encoding="utf-8") as f:
            keys.update(read.findall(f.read()))
    return frozenset(keys)


def check_known_keys(keys, where="the config"):
    """Refuse a key that is a near miss of a plugin key; warn about one that nobody declares.

    RecBole itself passes arbitrary keys through (a custom model may read them), hence only a warning.
    """
    known, plugin = recbole_keys(), plugin_keys()
    for key in keys:
        if key in plugin or key in known or key.startswith(PASS_THROUGH_PREFIXES):
            continue
        close = difflib.get_close_matches(key, plugin, n=1, cutoff=SUGGEST_CUTOFF)
        if close:
            raise SettingError(f"unknown setting {key!r}: did you mean {close[0]!r}? (in {where})")
        close = difflib.get_close_matches(key, known, n=1, cutoff=SUGGEST_CUTOFF)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        warnings.warn(f"setting {key!r} (in {where}) is declared neither by recbole-hnlm nor by RecBole; "
                      f"it is passed through unchecked{hint}", stacklevel=2)


def check_settings(config_dict):
    """Check (and type, in place) every declared plugin key of ``config_dict`` against its declaration."""
    for key, decl in declarations().items():
        if key in config_dict:
            config_dict[key] = decl.check(config_dict[key])
    return config_dict


def check_dataset_name(name):
    """A dataset is a folder name under ``data_path``: no separators, no ``..``, not absolute."""
    if not isinstance(name, str) or not name.strip():
        raise SettingError(f"setting dataset={name!r}: a dataset is a folder name under data_path")
    if "/" in name or "\\" in name or name in (".", "..") or os.path.isabs(name):
        raise SettingError(f"setting dataset={name!r}: a dataset is a folder name under data_path, not a path; "
                           f"point data_path at the folder that holds it and give its name")
    return name

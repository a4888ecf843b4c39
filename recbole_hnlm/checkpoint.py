"""The one way the package reads a checkpoint file, and the model rebuilt from one.

RecBole's trainer saves ``{"config": Config, "state_dict", "other_parameter", "optimizer", ...}`` with
``torch.save(..., pickle_protocol=4)``. Unpickling calls whatever the file names, so a crafted ``.pth``
runs code when it is loaded. ``torch.load(weights_only=True)`` would stop that, but it cannot read these
files at all: torch's weights-only unpickler has no protocol-4 opcodes ("Unsupported operand 149", the
FRAME opcode), and every checkpoint RecBole writes is protocol 4. Storing the config as plain data would
only help files the plugin writes from now on, not RecBole's own or existing ones.

So the plugin unpickles checkpoints itself, through an allow-list of what RecBole's checkpoints hold
(found by loading checkpoints of LightGCN, LightGCN_HNLM and LightGCN_MixGCF):

* torch's own weights-only list: tensors, storages, dtypes, ``torch.device``, ``OrderedDict``;
* numpy scalars and dtypes and RecBole's enums (``ModelType``, ``InputType``...), values inside the Config;
* the Config (RecBole's or the plugin's): restored from its attribute dict, its constructor never runs;
* the classes a Config names (``model_class``, ``yaml_loader``): read as names and imported after the
  load (only from RecBole's and the plugin's model packages, and yaml), never called while loading.

Anything else is refused with an error naming the file and the opt-in: ``trust_checkpoint: True``
(``--trust_checkpoint=True``) loads with plain ``torch.load(weights_only=False)``, which runs any code
the file holds; use it only for files you made yourself.
"""
import importlib
import json
import os
import pickle
import types
from collections import OrderedDict
from enum import Enum

import torch

TRUST_FLAG = "--trust_checkpoint=True"
CHECKPOINT_FIELDS = ("config", "state_dict")
RESUME_FIELDS = CHECKPOINT_FIELDS + ("epoch", "cur_step", "best_valid_score", "optimizer")
# config keys that decide which interactions are training pairs
SPLIT_KEYS = ("dataset", "seed", "eval_args", "rm_dup_inter", "val_interval", "filter_inter_by_user_or_item",
              "user_inter_num_interval", "item_inter_num_interval", "load_col", "unused_col", "USER_ID_FIELD",
              "ITEM_ID_FIELD")

_CONFIG_CLASSES = {"recbole.config.configurator.Config": ("recbole.config", "Config"),
                   "recbole.config.Config": ("recbole.config", "Config"),
                   "recbole_hnlm.config.Config": ("recbole_hnlm.config", "Config")}
_NAMED_CLASS_MODULES = ("recbole.model.", "recbole_hnlm.model.", "yaml.loader")
_NUMPY = {f"{core}.multiarray.scalar" for core in ("numpy.core", "numpy._core")} | {"numpy.dtype"}
_ENUM_MODULE = "recbole.utils.enum_type"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file."""


class _Refused(pickle.UnpicklingError):
    pass


class _PickledConfig:
    """A Config while it is unpickled: only its attribute dict is restored; calling it is refused."""

    def __init__(self, *args, **kwargs):
        raise _Refused("a call of the Config class (a saved Config is only ever restored from its attributes)")


_PICKLED_CONFIGS = {full: type("PickledConfig", (_PickledConfig,), {"real": real})
                    for full, real in _CONFIG_CLASSES.items()}


class _ClassName:
    """A class that a Config names (its model class, its yaml loader): imported after loading, never called."""

    def __init__(self, module, name):
        self.module, self.name = module, name


def _is_named_class(module):
    return any(module == m or module.startswith(m) for m in _NAMED_CLASS_MODULES)


class _Opcodes(dict):
    def __missing__(self, code):
        raise pickle.UnpicklingError(f"invalid load key {bytes([code])!r}")


class _AllowListUnpickler(pickle._Unpickler):
    """Pure-Python unpickler with an allow-list of globals; state is set only on the types that need it
    (a state_dict's ``_metadata``, a Config's attributes, tensors, numpy dtypes), never on a class or function."""

    dispatch = _Opcodes(pickle._Unpickler.dispatch)

    def find_class(self, module, name):
        full = f"{module}.{name}"
        if full in _PICKLED_CONFIGS:
            return _PICKLED_CONFIGS[full]
        if _is_named_class(module):
            return _ClassName(module, name)
        if full in _torch_allowed() or full in _NUMPY:
            return super().find_class(module, name)
        if module == _ENUM_MODULE:
            found = super().find_class(module, name)
            if isinstance(found, type) and issubclass(found, Enum):
                return found
        raise _Refused(f"the file names {full}")

    def _load_build(self):
        inst = self.stack[-2]  # below the state
        if not isinstance(inst, (_PickledConfig, torch.Tensor, OrderedDict, _numpy_dtype())):
            raise _Refused(f"the file sets the state of a {type(inst).__name__}")
        pickle._Unpickler.load_build(self)

    dispatch[pickle.BUILD[0]] = _load_build


def _torch_allowed():
    from torch._weights_only_unpickler import _get_allowed_globals

    return _get_allowed_globals()


def _numpy_dtype():
    import numpy as np

    return np.dtype


def _allow_list_load(file, **kwargs):
    return _AllowListUnpickler(file, **kwargs).load()


_ALLOW_LIST_PICKLE = types.ModuleType("recbole_hnlm_allow_list_pickle")
_ALLOW_LIST_PICKLE.Unpickler = _AllowListUnpickler
_ALLOW_LIST_PICKLE.load = _allow_list_load


def _restore_config(obj):
    """The real Config for a :class:`_PickledConfig` (with its named classes imported); others unchanged."""
    if not isinstance(obj, _PickledConfig):
        return obj
    state = dict(vars(obj))
    for key, value in state.items():
        if isinstance(value, _ClassName):
            state[key] = getattr(importlib.import_module(value.module), value.name)
    module, name = type(obj).real
    cls = getattr(importlib.import_module(module), name)
    config = cls.__new__(cls)
    config.__dict__.update(state)
    return config


def load_file(path, map_location="cpu", trust=False):
    """Whatever ``torch.save`` wrote to ``path``, read through the allow-list (in full only when ``trust``)."""
    path = str(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        if trust:
            return torch.load(path, map_location=map_location, weights_only=False)
        return torch.load(path, map_location=map_location, weights_only=False, pickle_module=_ALLOW_LIST_PICKLE)
    except _Refused as e:
        raise CheckpointError(
            f"{path}: refused to load it: {e}, which is not in a RecBole checkpoint and could run code. "
            f"If you made this file yourself, load it with {TRUST_FLAG} (this runs any code the file holds)"
        ) from None
    except Exception as e:  # noqa: BLE001 -- corrupt, truncated or foreign bytes, reported with the file name
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {str(e)[:200]})") from e


def load_checkpoint(path, map_location="cpu", trust=False, fields=CHECKPOINT_FIELDS):
    """A checkpoint saved by RecBole's or the plugin's trainer, as a dict with a real Config."""
    from recbole.config import Config

    checkpoint = load_file(path, map_location, trust)
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path}: holds a {type(checkpoint).__name__}, not a RecBole checkpoint")
    missing = [f for f in fields if f not in checkpoint]
    if missing:
        raise CheckpointError(f"{path}: field(s) {missing} are missing (not a RecBole checkpoint)")
    checkpoint["config"] = _restore_config(checkpoint["config"])
    if not isinstance(checkpoint["config"], Config):
        raise CheckpointError(f"{path}: field 'config' is a {type(checkpoint['config']).__name__}, not a Config")
    return checkpoint


def _get(config, key):
    try:
        return config[key]
    except (KeyError, TypeError):
        return None


def _plain(value):
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def check_split(path, saved_config, config, keys=SPLIT_KEYS):
    """Refuse a checkpoint whose ``keys`` (by default, those that make the split) differ from ``config``'s."""
    diff = [k for k in keys if _plain(_get(saved_config, k)) != _plain(_get(config, k))]
    if diff:
        detail = ", ".join(f"{k}: checkpoint {_get(saved_config, k)!r} vs run {_get(config, k)!r}" for k in diff)
        raise CheckpointError(f"{path}: trained on another dataset, split or model ({detail})")


def rebuild(path, config=None, train_dataset=None, device=None, trust=False):
    """``(config, model, train_data)`` of the model saved in ``path``, its weights loaded.

    With ``config`` and ``train_dataset`` (a run that has its data already, e.g. SCFT's teacher) the
    checkpoint must come from the same split and the model is built on ``train_dataset``, which is
    returned as ``train_data``; without them the split is rebuilt from the checkpoint's own config and
    ``train_data`` is its training dataloader. ``device`` defaults to the saved one when CUDA is there.
    """
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import init_seed

    from recbole_hnlm.quick_start import ensure_model_features
    from recbole_hnlm.utils import get_model

    checkpoint = load_checkpoint(path, trust=trust)
    saved = checkpoint["config"]
    if config is not None:
        check_split(path, saved, config)
    if device is None:
        device = saved["device"] if torch.cuda.is_available() else "cpu"
    saved["device"] = torch.device(device)
    init_seed(saved["seed"], saved["reproducibility"])
    if train_dataset is None:
        train_data, _, _ = data_preparation(saved, create_dataset(saved))
        train_dataset = train_data.dataset
    else:
        train_data = train_dataset
    ensure_model_features(saved, train_dataset)
    init_seed(saved["seed"], saved["reproducibility"])
    model = get_model(saved["model"])(saved, train_dataset).to(saved["device"])
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: the weights do not fit {saved['model']} on this dataset ({e})") from e
    model.load_other_parameter(checkpoint.get("other_parameter"))
    model.eval()
    return saved, model, train_data

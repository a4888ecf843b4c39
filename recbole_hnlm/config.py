"""Config: RecBole's Config, with the plugin's models and properties.

Merge order (later wins), as in RecBole with the plugin's files slotted in after RecBole's own:
RecBole overall.yaml < plugin overall.yaml < RecBole model yaml < plugin shared yamls < plugin model yaml
< RecBole dataset yaml < ``properties/dataset/<ds>.yaml`` (the user-facing folder, relative to the current
directory like ``data_path``) < ``<data_path>/<ds>/<ds>.yaml`` (written by the converter)
< config files < config dict < command line.

Settings are checked where they are read: a plugin key against its declaration in the plugin's yamls
(:mod:`recbole_hnlm.settings`), a given key that is a near miss of a plugin key is refused, and the
dataset must be a folder name. RecBole's own keys pass through untouched.
"""
import recbole_hnlm.compat  # noqa: F401,I001  (RecBole 1.2.1 shims, before RecBole is imported)
import os

import recbole
import yaml

from recbole.config import Config as RecBoleConfig

from recbole_hnlm.compat import init_cpu_process_group
from recbole_hnlm.settings import PROPERTIES_DIR, check_dataset_name, check_known_keys, check_settings
from recbole_hnlm.utils import get_model, recbole_backbones

DEFAULT_DATASET = "hnlm-demo"
DEFAULT_DATA_PATH = "atomic_data/"  # must match properties/overall.yaml


class Config(RecBoleConfig):
    """RecBole's Config that finds plugin models and reads ``recbole_hnlm/properties``.

    ``dataset`` defaults to the generated demo set (:data:`DEFAULT_DATASET`) when none is given.
    """

    def _load_config_files(self, file_list):
        loaded = {}
        for path in file_list or ():
            values = self._read_yaml(path)
            check_known_keys(values, path)
            loaded.update(values)
        return loaded

    def _merge_external_config_dict(self):
        check_known_keys(self.variable_config_dict, "the config dict")
        check_known_keys(self.cmd_config_dict, "the command line")
        super()._merge_external_config_dict()

    def _get_model_and_dataset(self, model, dataset):
        if model is None:
            model = self.external_config_dict.get("model")
            if model is None:
                raise KeyError("model must be given: --model=<name>, a config file, or the config dict")
        if dataset is None:
            dataset = self.external_config_dict.get("dataset", DEFAULT_DATASET)
        check_dataset_name(dataset)
        if isinstance(model, str):
            return model, get_model(model), dataset
        return model.__name__, model, dataset

    def _read_yaml(self, path):
        with open(path, encoding="utf-8") as f:
            try:
                loaded = yaml.load(f.read(), Loader=self.yaml_loader)
            except yaml.YAMLError as e:
                raise ValueError(f"{path}: not valid YAML: {e}") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise ValueError(f"{path}: expected a mapping of config keys, got {type(loaded).__name__}")
        return loaded or {}

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        rb = os.path.join(os.path.dirname(os.path.abspath(recbole.__file__)), "properties")
        # RecBole's own layers are re-applied so that each plugin file lands right above its peer.
        layers = [
            (os.path.join(PROPERTIES_DIR, "overall.yaml"), False),
            # a plugin model inherits its RecBole backbone's defaults (LightGCN_HNLM <- LightGCN.yaml)
            *[(os.path.join(rb, "model", f"{c.__name__}.yaml"), False) for c in reversed(recbole_backbones(model_class))],
            (os.path.join(rb, "model", f"{model}.yaml"), False),
            *[(os.path.join(PROPERTIES_DIR, f), False) for f in getattr(model_class, "shared_properties", ())],
            (os.path.join(PROPERTIES_DIR, "model", f"{model}.yaml"), False),
            (os.path.join(rb, "dataset", "sample.yaml"), False),
            (os.path.join(rb, "dataset", f"{dataset}.yaml"), True),
            (os.path.join("properties", "dataset", f"{dataset}.yaml"), True),  # user-facing, relative like data_path
            (self._data_side_yaml(dataset), True),
        ]
        for path, is_dataset in layers:
            if path and os.path.isfile(path):
                values = self._read_yaml(path)
                self.internal_config_dict.update(values)
                if is_dataset:
                    self.parameters["Dataset"] += [k for k in values if k not in self.parameters["Dataset"]]

    def _data_side_yaml(self, dataset):
        data_path = self.external_config_dict.get("data_path", DEFAULT_DATA_PATH)
        path = os.path.join(data_path, dataset, f"{dataset}.yaml")
        return path if os.path.isfile(path) else None

    def _init_device(self):
        import torch

        d = self.final_config_dict
        if "local_rank" in d and not (d["use_gpu"] and torch.cuda.is_available()):
            init_cpu_process_group(d)  # RecBole 1.2.1 only knows NCCL on GPUs
        else:
            super()._init_device()

    def _set_default_parameters(self):
        # RecBole sends ml-100k to its bundled copy; a converted copy under data_path wins.
        data_path = self.final_config_dict["data_path"]
        own_copy = os.path.isdir(os.path.join(data_path, self.dataset)) if self.dataset == "ml-100k" else False
        super()._set_default_parameters()
        if self.final_config_dict.get("train_seed") is None:
            self.final_config_dict["train_seed"] = self.final_config_dict["seed"]
        if own_copy:
            self.final_config_dict["data_path"] = os.path.join(data_path, self.dataset)
        check_settings(self.final_config_dict)


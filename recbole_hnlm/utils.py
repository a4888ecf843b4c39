"""Model and trainer lookup: the plugin first, then RecBole (the RecBole-GNN pattern)."""
import recbole_hnlm.compat  # noqa: F401,I001  (RecBole 1.2.1 shims, before RecBole is imported)
import importlib

from recbole.utils import get_model as recbole_get_model
from recbole.utils import get_trainer as recbole_get_trainer

_PLUGIN_MODEL_PACKAGES = ["recbole_hnlm.model.general_recommender"]


def plugin_model_names():
    """Names of the models the plugin defines (``__all__`` of its model packages)."""
    names = []
    for pkg in _PLUGIN_MODEL_PACKAGES:
        names += list(importlib.import_module(pkg).__all__)
    return names


def get_model(model_name):
    """Return the model class: a plugin model if one has this name, else RecBole's."""
    for pkg in _PLUGIN_MODEL_PACKAGES:
        module = importlib.import_module(pkg)
        if model_name in getattr(module, "__all__", ()):
            return getattr(module, model_name)
    try:
        return recbole_get_model(model_name)
    except (ValueError, ImportError) as e:
        # RecBole's lookup imports its exlib package (xgboost, lightgbm) while searching a name
        raise ValueError(
            f"model [{model_name}] is neither a recbole-hnlm model ({', '.join(plugin_model_names())}) "
            f"nor a RecBole model ({type(e).__name__}: {e})"
        ) from None


def get_trainer(model_type, model_name):
    """Return RecBole's trainer class for a model, with the plugin's mixins (checkpoints, epoch record) in front."""
    from recbole_hnlm.trainer import with_plugin_mixins

    return with_plugin_mixins(recbole_get_trainer(model_type, model_name))


def recbole_backbones(model_class):
    """The RecBole model classes that ``model_class`` is or builds on, most specific first (abstract ones left out)."""
    return [c for c in model_class.__mro__
            if c.__module__.startswith("recbole.model.") and not c.__module__.endswith("abstract_recommender")]

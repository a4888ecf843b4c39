"""Feature sets: the one place where the training core and the offline wing meet.

The offline wing (``llm/``) writes feature sets with :class:`FeatureWriter`; the
models open them as a :class:`FeatureTable`. Models declare the sets they need
(``feature_names(config)``), :func:`recbole_hnlm.quick_start.prepare` ensures them with
:func:`ensure_features`, and constructors only open them.
"""
import os

from recbole_hnlm.features.builtin import (
    BUILTIN_FEATURES,
    build_builtin_features,
    builtin_features_stale,
    nearest_negatives,
    train_fingerprint,
)
from recbole_hnlm.features.format import (
    FeatureFileError,
    FeatureSet,
    FeatureWriter,
    feature_dir,
    folder_lock,
    write_features,
    write_reference_features,
)
from recbole_hnlm.features.table import FeatureTable, center_rows


def ensure_features(config, train_dataset, names):
    """Make sure the feature sets ``names`` exist for this split.

    Built-in sets are built when absent or stale (all three from one pass of the text embedder); any
    other set must already exist, or this is an error naming its folder.
    """
    rebuild = False
    for name in dict.fromkeys(n for n in names if n):
        directory = feature_dir(config, name)
        present = os.path.isfile(os.path.join(directory, "meta.json"))
        if name not in BUILTIN_FEATURES:
            if not present:
                raise FeatureFileError(
                    f"{directory}: the feature set {name!r} does not exist; produce it with the LLM stage "
                    f"(docs/llm.md) or use one of the built-in sets {list(BUILTIN_FEATURES)}"
                )
        elif not present or builtin_features_stale(config, train_dataset, directory):
            rebuild = True
    if rebuild:
        build_builtin_features(config, train_dataset)


def open_table(config, name, dataset, **options):
    """The feature set ``name`` of the run's dataset as a :class:`FeatureTable` (``options`` go to it)."""
    return FeatureTable(FeatureSet(feature_dir(config, name)), dataset,
                        max_unknown=config["hnlm_feature_max_unknown"], **options)


__all__ = [
    "BUILTIN_FEATURES", "FeatureFileError", "FeatureSet", "FeatureTable", "FeatureWriter", "build_builtin_features",
    "builtin_features_stale", "center_rows", "ensure_features", "feature_dir", "folder_lock", "nearest_negatives",
    "open_table", "train_fingerprint", "write_features", "write_reference_features",
]

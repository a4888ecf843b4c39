"""Feature sets that do not belong to the run are refused or named at load: another dataset, another
training split, NaN rows, and sets that are mostly the retrieval fallback."""
import json
import logging

import numpy as np
import pytest

from recbole_hnlm.config import Config
from recbole_hnlm.features import FeatureFileError, FeatureSet, FeatureTable, open_table, train_fingerprint, write_features
from recbole_hnlm.quick_start import prepare
from tests.conftest import base_config

OTHER_SPLIT = "0123456789abcdef"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    _, _, train_data, _, _ = prepare("LightGCN", config_dict=base_config(root))
    config = Config(model="LightGCN_HNLM", config_dict=base_config(root))
    return config, train_data.dataset


def items_of(ds):
    return list(ds.field2id_token[ds.iid_field][1:])


def fingerprint(ds):
    return train_fingerprint(ds.inter_feat[ds.uid_field].numpy(), ds.inter_feat[ds.iid_field].numpy())


def test_item_set_of_another_dataset_is_refused(tmp_path, demo):
    """ml-100k's 1682 numeric item tokens cover the demo's 480: 1202 rows name tokens the demo lacks."""
    config, ds = demo
    items = items_of(ds)
    keys = items + [str(1000 + j) for j in range(1682 - len(items))]
    assert not set(keys[len(items):]) & set(items)
    d = tmp_path / "ml-100k-items"
    write_features(d, "item", keys, np.ones((len(keys), 4), np.float32), source={"train_fingerprint": OTHER_SPLIT})
    with pytest.raises(FeatureFileError, match=rf"{d}: 1202 of 1682 rows name tokens absent from dataset "
                                               rf"'hnlm-demo' \(more than hnlm_feature_max_unknown=0.01\)"):
        open_table(config, str(d), ds)
    # a few unknown tokens (an item filtered out since) stay below the share and are ignored
    few = items + ["99999"]
    write_features(tmp_path / "few", "item", few, np.ones((len(few), 4), np.float32),
                   source={"train_fingerprint": fingerprint(ds)})
    assert open_table(config, str(tmp_path / "few"), ds).present.sum() == len(items)


def test_pair_set_of_another_split_is_refused(tmp_path, demo):
    config, ds = demo
    users = ds.id2token(ds.uid_field, ds.inter_feat[ds.uid_field].numpy())
    items = ds.id2token(ds.iid_field, ds.inter_feat[ds.iid_field].numpy())
    keys = np.unique(np.stack([users, items], axis=1), axis=0)
    vec = np.ones((len(keys), 4), np.float32)
    write_features(tmp_path / "same", "pair", keys, vec, source={"train_fingerprint": fingerprint(ds)})
    assert len(open_table(config, str(tmp_path / "same"), ds).codes) == len(keys)
    write_features(tmp_path / "other", "pair", keys, vec, source={"train_fingerprint": OTHER_SPLIT})
    with pytest.raises(FeatureFileError, match=rf"{tmp_path / 'other'}: exported for another training split "
                                               rf"\(source.train_fingerprint {OTHER_SPLIT}, this split "
                                               rf"{fingerprint(ds)}\); a pair set cannot serve another split"):
        open_table(config, str(tmp_path / "other"), ds)


def test_item_set_of_another_split_is_used_with_a_warning(tmp_path, demo, caplog):
    config, ds = demo
    items = items_of(ds)
    for name, fp in (("same", fingerprint(ds)), ("other", OTHER_SPLIT)):
        write_features(tmp_path / name, "item", items, np.ones((len(items), 4), np.float32),
                       source={"train_fingerprint": fp})
    with caplog.at_level(logging.WARNING):
        open_table(config, str(tmp_path / "same"), ds)
    assert "another training split" not in caplog.text
    with caplog.at_level(logging.WARNING):
        table = open_table(config, str(tmp_path / "other"), ds)
    assert f"{tmp_path / 'other'}: exported for another training split" in caplog.text
    assert int(table.present.sum()) == len(items)


def test_nan_rows_are_named_at_load(tmp_path, demo):
    _, ds = demo
    items = items_of(ds)
    d = tmp_path / "nan"
    vec = np.ones((len(items), 2, 4), np.float32)
    write_features(d, "item", items, vec)
    vec[7, 0, 2] = np.nan
    vec[9, 1, 0] = np.inf
    np.save(d / "embeddings.npy", vec)
    with pytest.raises(FeatureFileError, match=rf"{d / 'embeddings.npy'}: 1 rows hold NaN or inf "
                                               rf"\(first: row 7, key '{items[7]}'\)"):
        FeatureTable(FeatureSet(str(d)), ds)
    with pytest.raises(FeatureFileError, match=r"2 rows hold NaN or inf \(first: row 7"):
        FeatureTable(FeatureSet(str(d)), ds, n_hard=2)


def test_mostly_fallback_set_warns(tmp_path, demo, caplog):
    config, ds = demo
    items = items_of(ds)
    for name, share in (("llm", 0.1), ("fallback", 0.9)):
        write_features(tmp_path / name, "item", items, np.ones((len(items), 4), np.float32),
                       source={"producer": "llm", "fallback_share": share})
    with caplog.at_level(logging.WARNING):
        open_table(config, str(tmp_path / "llm"), ds)
    assert "fallback" not in caplog.text
    with caplog.at_level(logging.WARNING):
        open_table(config, str(tmp_path / "fallback"), ds)
    assert f"{tmp_path / 'fallback'}: 90% of its rows are the retrieval fallback" in caplog.text
    assert json.loads((tmp_path / "fallback" / "meta.json").read_text())["source"]["fallback_share"] == 0.9

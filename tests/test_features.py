import json
import os

import numpy as np
import pytest
import torch

from recbole_hnlm.features import (
    FeatureFileError,
    FeatureSet,
    FeatureWriter,
    FeatureTable,
    write_features,
)
from recbole_hnlm.quick_start import prepare
from tests.conftest import base_config


@pytest.fixture(scope="module")
def demo_train(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    config, _, train_data, _, _ = prepare("LightGCN", config_dict=base_config(root))
    return train_data.dataset


def _pair_keys(ds):
    users = ds.inter_feat[ds.uid_field].numpy()
    items = ds.inter_feat[ds.iid_field].numpy()
    return np.stack([ds.id2token(ds.uid_field, users), ds.id2token(ds.iid_field, items)], axis=1), users, items


def test_roundtrip_pair_lookup_averages_n_hard(tmp_path, demo_train):
    keys, users, items = _pair_keys(demo_train)
    rng = np.random.RandomState(0)
    vec = rng.randn(len(keys), 3, 8).astype(np.float32)
    meta = write_features(tmp_path / "f", "pair", keys, vec, source={"producer": "test"})
    assert meta["count"] == len(keys) and meta["k"] == 3 and meta["dim"] == 8
    sem = FeatureTable(FeatureSet(str(tmp_path / "f")), demo_train, n_hard=2)
    idx = np.array([5, 0, 17])
    got = sem.lookup(torch.as_tensor(users[idx]), torch.as_tensor(items[idx]))
    assert got.shape == (3, 8)
    assert np.allclose(got.numpy(), vec[idx, :2].mean(axis=1), atol=1e-6)


def test_user_and_item_granularity(tmp_path, demo_train):
    users = np.arange(1, demo_train.user_num)
    vec = np.stack([np.full(4, u, dtype=np.float32) for u in users])
    write_features(tmp_path / "u", "user", demo_train.id2token(demo_train.uid_field, users), vec)
    sem = FeatureTable(FeatureSet(str(tmp_path / "u")), demo_train, granularity="user", dim=4)
    out = sem.lookup(torch.tensor([3, 7]), torch.tensor([1, 1]))
    assert out[:, 0].tolist() == [3.0, 7.0]


def test_center_removes_the_common_direction_and_keeps_the_differences(tmp_path, demo_train):
    """Every row = a shared offset (10, 0, 0) + its own part; centring leaves the normalised own parts."""
    users = np.arange(1, demo_train.user_num)
    own = np.random.RandomState(1).randn(len(users), 3)
    own -= own.mean(axis=0)
    vec = (own + np.array([10.0, 0.0, 0.0])).astype(np.float32)
    write_features(tmp_path / "c", "user", demo_train.id2token(demo_train.uid_field, users), vec)
    plain = FeatureTable(FeatureSet(str(tmp_path / "c")), demo_train)
    sem = FeatureTable(FeatureSet(str(tmp_path / "c")), demo_train, center=True)
    got = sem.lookup(torch.as_tensor(users), torch.ones(len(users), dtype=torch.long)).numpy()
    assert np.allclose(got, own / np.linalg.norm(own, axis=1, keepdims=True), atol=1e-5)
    assert float(sem.table[0].abs().sum()) == 0.0  # the padding user has no row and stays zero
    raw = plain.lookup(torch.as_tensor(users), torch.ones(len(users), dtype=torch.long)).numpy()
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > 0.95 > abs(got[0] @ got[1])  # nearly parallel before, not after


def test_resumable_writer_skips_done_keys_and_refuses_other_settings(tmp_path):
    d = str(tmp_path / "f")
    w = FeatureWriter(d, "item", dim=2, k=1, source={"model": "a"})
    w.add(["a", "b"], np.ones((2, 2)))
    assert not os.path.exists(os.path.join(d, "meta.json"))  # not final yet
    w2 = FeatureWriter(d, "item", dim=2, k=1, source={"model": "a"})  # "restart"
    assert w2.done == {"a", "b"}
    w2.add(["c"], np.zeros((1, 2)))
    meta = w2.finalize()
    assert meta["count"] == 3 and not os.path.exists(os.path.join(d, "parts"))
    fs = FeatureSet(d)
    assert fs.keys.tolist() == ["a", "b", "c"]
    with pytest.raises(FeatureFileError, match="different settings"):
        w3 = FeatureWriter(str(tmp_path / "g"), "item", dim=2, k=1, source={"model": "a"})
        w3.add(["a"], np.ones((1, 2)))
        FeatureWriter(str(tmp_path / "g"), "item", dim=3, k=1, source={"model": "a"})


def test_unfinished_export_is_named(tmp_path):
    d = str(tmp_path / "f")
    FeatureWriter(d, "item", dim=2).add(["a"], np.ones((1, 2)))
    with pytest.raises(FeatureFileError, match=r"meta\.json: missing \(an export was started but not finalized\)"):
        FeatureSet(d)


def test_truncated_embeddings_file_is_named(tmp_path):
    d = tmp_path / "f"
    write_features(d, "item", ["a", "b", "c"], np.ones((3, 16), dtype=np.float32))
    emb = d / "embeddings.npy"
    emb.write_bytes(emb.read_bytes()[:-40])
    with pytest.raises(FeatureFileError, match="embeddings.npy: truncated"):
        FeatureSet(str(d))


def test_meta_shape_mismatch_is_named(tmp_path):
    d = tmp_path / "f"
    write_features(d, "item", ["a", "b"], np.ones((2, 4), dtype=np.float32))
    meta = json.loads((d / "meta.json").read_text())
    meta["dim"] = 8
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(FeatureFileError, match=r"embeddings.npy: shape \(2, 1, 4\), but meta.json says \(2, 1, 8\)"):
        FeatureSet(str(d))


def test_config_mismatch_and_missing_coverage(tmp_path, demo_train):
    keys, _, _ = _pair_keys(demo_train)
    write_features(tmp_path / "f", "pair", keys[:-5], np.ones((len(keys) - 5, 4), dtype=np.float32))
    fs = FeatureSet(str(tmp_path / "f"))
    with pytest.raises(FeatureFileError, match="granularity is 'pair', the config asks 'user'"):
        FeatureTable(fs, demo_train, granularity="user")
    with pytest.raises(FeatureFileError, match="dim is 4, the config asks 384"):
        FeatureTable(fs, demo_train, dim=384)
    with pytest.raises(FeatureFileError, match="n_hard=2 but the file holds k=1"):
        FeatureTable(fs, demo_train, n_hard=2)
    with pytest.raises(FeatureFileError, match=r"5 of \d+ training interactions have no pair embedding \(first: user"):
        FeatureTable(fs, demo_train)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FeatureFileError, match="no such feature folder"):
        FeatureSet(str(tmp_path / "nope"))


def test_retrieval_features_with_repeat_interactions(tmp_path):
    """A user who bought an item twice (amazon-scientific has 291 such pairs) gets one pair key."""
    from recbole_hnlm.data.demo import generate

    name = "repeats"
    generate(str(tmp_path / name), n_users=60, n_items=80, per_user=(12, 20))
    inter = tmp_path / name / f"{name}.inter"
    lines = inter.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    repeated = [r for r in rows if r.split("\t")[0] == rows[0].split("\t")[0]]
    inter.write_text("\n".join([header] + rows + repeated) + "\n")  # every pair of one user, twice
    _, _, train_data, _, _ = prepare("LightGCN_HNLM", config_dict=base_config(tmp_path, dataset=name))
    ds = train_data.dataset
    _, users, items = _pair_keys(ds)
    distinct = len(np.unique(users * ds.item_num + items))
    assert distinct < len(users)  # the training split holds repeats
    fs = FeatureSet(str(tmp_path / name / "hnlm" / "retrieval"))
    assert fs.meta["count"] == distinct
    neg = FeatureTable(fs, ds, n_hard=1)
    assert neg.lookup(torch.as_tensor(users), torch.as_tensor(items)).shape == (len(users), fs.meta["dim"])


def test_a_users_set_named_like_a_builtin_is_never_deleted(tmp_path):
    from recbole_hnlm.features.builtin import remove_own_build

    mine = tmp_path / "retrieval"
    write_features(str(mine), "item", ["1", "2"], np.ones((2, 4), dtype=np.float32), source={"producer": "llm"})
    with pytest.raises(FeatureFileError, match="producer 'llm'.*never deleted"):
        remove_own_build(str(mine))
    assert (mine / "meta.json").is_file()
    built = tmp_path / "item-text"
    write_features(str(built), "item", ["1"], np.ones((1, 4), dtype=np.float32), source={"producer": "retrieval"})
    (built / "notes.txt").write_text("mine")
    with pytest.raises(FeatureFileError, match="did not write"):
        remove_own_build(str(built))
    (built / "notes.txt").unlink()
    remove_own_build(str(built))
    assert not built.exists()

"""Feature sets stored by reference: item ids resolved through the item-text set at lookup."""
import shutil

import numpy as np
import pytest
import torch

from recbole_hnlm.features import FeatureFileError, FeatureSet, FeatureTable, write_features
from recbole_hnlm.features.builtin import dataset_item_texts
from recbole_hnlm.features.embedder import local_text_embedder
from recbole_hnlm.quick_start import prepare
from tests.conftest import base_config


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The demo set's training split with its built-in feature sets."""
    root = tmp_path_factory.mktemp("data")
    config, _, train_data, _, _ = prepare("LightGCN_HNLM", config_dict=base_config(root, anchor_weight=0.1))
    return config, train_data.dataset, root / config["dataset"] / "hnlm"


def _training_pairs(ds):
    return torch.as_tensor(ds.inter_feat[ds.uid_field]).long(), torch.as_tensor(ds.inter_feat[ds.iid_field]).long()


def _by_value_copy(ref_set, out):
    """The same negatives written the old way: their item-text vectors stored per key."""
    items = FeatureSet(str(ref_set.reference.directory))
    row = {t: i for i, t in enumerate(items.keys.tolist())}
    vectors = np.asarray(items.embeddings[:, 0], dtype=np.float32)
    gathered = vectors[np.vectorize(row.__getitem__)(ref_set.ref_tokens)]
    write_features(out, ref_set.meta["granularity"], ref_set.keys, gathered)
    return FeatureSet(str(out))


@pytest.mark.parametrize("name", ["retrieval", "retrieval-item"])
@pytest.mark.parametrize("n_hard", [1, 2])
def test_by_reference_set_returns_the_by_value_vectors(built, tmp_path, name, n_hard):
    _, ds, hnlm = built
    ref_set = FeatureSet(str(hnlm / name))
    assert ref_set.embeddings is None and ref_set.meta["reference"] == {"set": "item-text", "field": "neg_items"}
    assert not (hnlm / name / "embeddings.npy").exists()
    by_ref = FeatureTable(ref_set, ds, n_hard=n_hard)
    by_value = FeatureTable(_by_value_copy(ref_set, tmp_path / name), ds, n_hard=n_hard)
    users, items = _training_pairs(ds)
    got, want = by_ref.lookup(users, items), by_value.lookup(users, items)
    assert got.shape == (len(users), ref_set.meta["dim"])
    if n_hard == 1:
        assert torch.equal(got, want)
    else:
        assert torch.allclose(got, want, atol=1e-6, rtol=0)


def test_by_reference_table_holds_item_vectors_and_pair_ids_only(built):
    _, ds, hnlm = built
    table = FeatureTable(FeatureSet(str(hnlm / "retrieval")), ds, n_hard=2)
    n_pairs, dim = len(table.codes), table.dim
    assert table.table.shape == (ds.item_num, dim)  # O(items) floats...
    assert table.neg.shape == (n_pairs, 2) and table.neg.dtype == torch.int32  # ...and O(pairs) item ids
    by_value_bytes = n_pairs * dim * 4
    held = table.table.numel() * table.table.element_size() + table.neg.numel() * table.neg.element_size()
    assert n_pairs > ds.item_num and held < by_value_bytes / 10


def test_rows_are_the_distinct_negatives_of_the_batch(built):
    _, ds, hnlm = built
    table = FeatureTable(FeatureSet(str(hnlm / "retrieval")), ds)
    users, items = _training_pairs(ds)
    vectors, inverse = table.rows(users, items)
    assert len(vectors) == len(torch.unique(table.neg[:, 0])) < len(users)
    assert torch.equal(vectors[inverse], table.lookup(users, items))


def test_item_text_in_float16_is_within_1e3_of_float32(built):
    config, ds, hnlm = built
    item_text = FeatureSet(str(hnlm / "item-text"))
    assert item_text.embeddings.dtype == np.float16
    exact = local_text_embedder(config["hnlm_text_embedder"]).encode(dataset_item_texts(config, ds))
    table = FeatureTable(item_text, ds, granularity="item")
    ids = torch.arange(1, ds.item_num)
    got = table.lookup(torch.zeros_like(ids), ids).numpy()
    assert 0 < np.abs(got - exact[1:]).max() < 1e-3


def test_missing_referenced_set_is_an_error_naming_the_folder(built, tmp_path):
    _, _, hnlm = built
    shutil.copytree(hnlm / "retrieval", tmp_path / "retrieval")
    with pytest.raises(FeatureFileError, match=rf"referenced set 'item-text'.*{tmp_path / 'item-text'}: no such feature folder"):
        FeatureSet(str(tmp_path / "retrieval"))


"""The sampler baselines as named models: 1-epoch runs through quick_start and the CLI, exact
equivalences with their RecBole backbones, and the hard-negative export."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, base_config
from recbole_hnlm.checkpoint import rebuild
from recbole_hnlm.model.general_recommender import SAMPLER_BASELINES
from recbole_hnlm.quick_start import prepare, run_recbole_hnlm
from recbole_hnlm.sampler import DNS, AHNS, MixGCF, TrainPositives, export_hard_negatives, write_hard_negatives
from recbole_hnlm.sampler.export import main as export_main
from recbole_hnlm.utils import get_model, plugin_model_names

SAMPLER_CLASS = {"DNS": DNS, "MixGCF": MixGCF, "AHNS": AHNS}
FAST = {"LightGCN_DNS", "LightGCN_MixGCF", "LightGCN_AHNS", "MF_DNS", "MF_MixGCF", "MF_AHNS"}


def test_every_backbone_has_every_sampler():
    names = set(plugin_model_names())
    for backbone in ("MF", "LightGCN", "NGCF", "SGL"):
        for sampler in SAMPLER_CLASS:
            assert f"{backbone}_{sampler}" in names
            assert issubclass(get_model(f"{backbone}_{sampler}"), get_model(f"{backbone}_HNLM"))
            assert os.path.isfile(ROOT / "recbole_hnlm" / "properties" / "model" / f"{backbone}_{sampler}.yaml")


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in SAMPLER_BASELINES]
)
def test_named_model_runs_one_epoch(data_root, name):
    config, _, train_data, _, _ = prepare(model=name, config_dict=base_config(data_root))
    assert config["mix_alpha"] == 0 and config["align_weight"] == 0  # a pure sampler baseline
    model = get_model(name)(config, train_data.dataset)
    assert type(model.neg_sampler) is SAMPLER_CLASS[name.split("_")[1]]
    result = run_recbole_hnlm(model=name, config_dict=base_config(data_root), saved=False)
    assert len(result["epoch_seconds"]) == 1
    assert set(result["test_result"]) == {"recall@10", "recall@20", "ndcg@10", "ndcg@20"}
    assert all(np.isfinite(v) and v > 0 for v in result["test_result"].values())


@pytest.mark.parametrize("backbone,named", [("LightGCN", "LightGCN_DNS"), ("BPR", "MF_DNS")])
def test_dns_with_one_candidate_reproduces_the_backbone(data_root, backbone, named):
    cfg = base_config(data_root, epochs=2)
    ref = run_recbole_hnlm(model=backbone, config_dict=cfg, saved=False)
    mine = run_recbole_hnlm(model=named, config_dict=dict(cfg, dns_m=1), saved=False)
    assert mine["test_result"] == ref["test_result"]
    assert mine["best_valid_result"] == ref["best_valid_result"]


@pytest.mark.parametrize("name", ["LightGCN_DNS", "LightGCN_MixGCF", "LightGCN_AHNS"])
def test_hard_samplers_choose_harder_negatives_than_uniform(data_root, name):
    """On one batch, each sampler's chosen negatives are harder by its own rule than RecBole's uniform ones."""
    import torch

    config, _, train_data, _, _ = prepare(model=name, config_dict=base_config(data_root))
    model = get_model(name)(config, train_data.dataset)
    batch = next(iter(train_data))
    user, pos, uniform = batch[model.USER_ID], batch[model.ITEM_ID], batch[model.NEG_ITEM_ID]
    with torch.no_grad():
        _, chosen = model.loss_and_negatives(batch)
        user_layers, item_layers, pool = model.propagate_layers()
        users, items = pool(user_layers), pool(item_layers)
    assert chosen.shape == uniform.shape and not TrainPositives(train_data.dataset).contains(user, chosen).any()
    query = users[user]
    if name == "LightGCN_AHNS":  # AHNS: the score nearest beta * (s(u, i+) + alpha) ** (p + 1)
        target = model.neg_sampler.target((query * items[pos]).sum(1))
        gap = {k: ((query * items[v]).sum(1) - target).abs() for k, v in (("chosen", chosen), ("uniform", uniform))}
        assert (gap["chosen"] <= gap["uniform"]).float().mean() > 0.9  # the best of M = 32 beats one draw
    else:  # DNS: the highest score; MixGCF: the highest score against the last layer's item embeddings
        keys = item_layers[-1] if name == "LightGCN_MixGCF" else items
        score = {k: (query * keys[v]).sum(1) for k, v in (("chosen", chosen), ("uniform", uniform))}
        assert (score["chosen"] >= score["uniform"]).float().mean() > 0.9


def test_cli_runs_a_named_model(data_root):
    cmd = [sys.executable, str(ROOT / "run_recbole_hnlm.py"), "--model=LightGCN_MixGCF", "--epochs=1",
           f"--data_path={data_root}", "--show_progress=False", "--saved=False", "--mixgcf_m=8",
           f"--checkpoint_dir={data_root}/saved"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=data_root.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    log = out.stdout + out.stderr
    assert "neg_sampler = mixgcf" in log and "mixgcf_m = 8" in log and "test result" in log


def test_export_hard_negatives_from_a_checkpoint(data_root, tmp_path):
    cfg = base_config(data_root, mixgcf_m=16)
    result = run_recbole_hnlm(model="LightGCN_MixGCF", config_dict=cfg, saved=True)
    _, model, train_data = rebuild(result["saved_model_file"])
    assert type(model.neg_sampler) is MixGCF and not model.training  # rebuilt for inference
    model.train()
    users, items, negs = export_hard_negatives(model, train_data, batch_size=1000)
    ds = train_data.dataset
    assert len(users) == len(items) == len(negs) == len(ds.inter_feat)
    assert model.training  # mode restored
    # the export is the training pairs, in order, each with a negative that is not a training positive
    assert np.array_equal(items, ds.id2token(ds.iid_field, ds.inter_feat[ds.iid_field].numpy()))
    import torch

    u = torch.as_tensor(ds.token2id(ds.uid_field, users))
    n = torch.as_tensor(ds.token2id(ds.iid_field, negs))
    assert not TrainPositives(ds).contains(u, n).any()
    # the CLI writes the same kind of rows as a TSV
    out = tmp_path / "neg" / "mixgcf.tsv"
    export_main([result["saved_model_file"], str(out)])
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "user_id:token\titem_id:token\tneg_item_id:token"
    assert len(lines) == len(users) + 1
    assert write_hard_negatives(str(tmp_path / "x.tsv"), users[:3], items[:3], negs[:3]) == 3


def test_hnlm_model_with_a_hard_sampler(data_root):
    """Semantic mixing on top of a DNS negative (the HNLM model with ``neg_sampler: dns``): DNS picks the
    negative, Eq. 7 mixes e_hard into its embedding, and one epoch trains."""
    import torch

    from recbole_hnlm.model.layers import match_norm

    cfg = base_config(data_root, neg_sampler="dns", dns_m=8, mix_alpha=0.2, guard_above_positive=False)
    config, _, train_data, _, _ = prepare(model="LightGCN_HNLM", config_dict=cfg)
    model = get_model("LightGCN_HNLM")(config, train_data.dataset)
    batch = next(iter(train_data))
    user, pos = batch[model.USER_ID], batch[model.ITEM_ID]
    with torch.no_grad():
        ctx = model.negative_context(user, pos, batch[model.NEG_ITEM_ID])
        neg_e, chosen = model.neg_sampler(ctx)
        mixed, _, _ = model.semantic_terms(user, pos, ctx.user_all[user], ctx.item_all[pos], neg_e)
        e_hard = match_norm(model.hard_embedding(user, pos), neg_e)
    assert type(model.neg_sampler) is DNS and torch.equal(neg_e, ctx.item_all[chosen])
    assert torch.allclose(mixed, (1 - config["mix_alpha"]) * neg_e + config["mix_alpha"] * e_hard, atol=1e-6)
    assert not torch.allclose(mixed, neg_e)
    result = run_recbole_hnlm(model="LightGCN_HNLM", config_dict=cfg, saved=False)
    assert len(result["train_loss"]) == 1 and np.isfinite(result["train_loss"][0])
    assert all(0 < v <= 1 for v in result["test_result"].values())


@pytest.mark.slow
@pytest.mark.real_data
def test_mixgcf_on_ml100k_exports_one_valid_negative_per_training_pair(ml100k_root):
    cfg = base_config(ml100k_root, epochs=1, train_batch_size=2048)
    result = run_recbole_hnlm(model="LightGCN_MixGCF", dataset="ml-100k", config_dict=cfg, saved=True)
    assert result["test_result"]["ndcg@20"] > 0.05
    _, model, train_data = rebuild(result["saved_model_file"])
    users, items, negs = export_hard_negatives(model, train_data)
    ds = train_data.dataset
    assert len(negs) == len(ds.inter_feat) and 75_000 < len(negs) < 85_000  # ~80 % of ml-100k's 100,000
    import torch

    u = torch.as_tensor(ds.token2id(ds.uid_field, users))
    n = torch.as_tensor(ds.token2id(ds.iid_field, negs))
    assert not TrainPositives(ds).contains(u, n).any()

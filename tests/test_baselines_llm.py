"""LLM-enhanced baselines (RLMRec-Con, RLMRec-Gen, KAR, LLMRec): their parts on hand-made tensors, and
1-epoch runs of every named model on the demo set (item profiles: the built-in item-text set)."""
import numpy as np
import pytest
import torch
from recbole.data import create_dataset
from recbole.model.general_recommender.lightgcn import LightGCN
from torch import nn

from conftest import base_config
from recbole_hnlm.config import Config
from recbole_hnlm.features import FeatureFileError, write_features
from recbole_hnlm.model.augmented import augmented_triples, profile_triples, read_triples
from recbole_hnlm.model.general_recommender import LLM_BASELINES
from recbole_hnlm.model.layers import info_nce_in_batch
from recbole_hnlm.model.hnlm import HardNegativeMixin
from recbole_hnlm.model.llm_enhanced import AugmentedEmbedding, HybridExpertAdaptor, mean_adjacency
from recbole_hnlm.model.profiles import mean_item_profile, profile_tables
from recbole_hnlm.quick_start import prepare, run_recbole_hnlm
from recbole_hnlm.utils import get_model

FAST = {"LightGCN_RLMRecCon", "LightGCN_RLMRecGen", "LightGCN_KAR", "MF_RLMRecCon", "MF_KAR", "LightGCN_LLMRec"}


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    """One demo data_path for the module, so that the item-text features are built once."""
    root = tmp_path_factory.mktemp("llm") / "atomic_data"
    root.mkdir()
    return root


def test_augmented_embedding_adds_and_masks():
    torch.manual_seed(0)
    base = nn.Embedding(5, 3)
    emb = AugmentedEmbedding(base)
    assert torch.equal(emb.weight, base.weight) and torch.equal(emb(torch.tensor([1, 4])), base.weight[[1, 4]])
    extra = torch.randn(5, 3)
    emb.extra = lambda index: extra if index is None else extra[index]
    assert torch.allclose(emb.weight, base.weight + extra)
    assert torch.allclose(emb(torch.tensor([2, 0])), (base.weight + extra)[[2, 0]])
    token = nn.Parameter(torch.full((1, 3), 7.0))
    emb.mask_rows, emb.mask_token = torch.tensor([1, 3]), token
    w = emb.weight
    assert torch.equal(w[[1, 3]], torch.full((2, 3), 7.0))
    assert torch.allclose(w[[0, 2, 4]], (base.weight + extra)[[0, 2, 4]])
    w.sum().backward()
    assert torch.equal(token.grad, torch.full((1, 3), 2.0))  # two rows use the token
    assert torch.equal(base.weight.grad[[1, 3]], torch.zeros(2, 3))  # masked rows get no gradient


def test_hybrid_expert_adaptor_gates_and_experts():
    torch.manual_seed(0)
    ad = HybridExpertAdaptor(("reasoning", "factual"), in_dim=6, out_dim=4, n_shared=2, n_specific=3, hidden=8)
    k = torch.randn(10, 6)
    g = ad.gate("reasoning", k)
    assert g.shape == (10, 5) and torch.allclose(g.sum(1), torch.ones(10))
    out = ad("reasoning", k)
    experts = torch.stack([e(k) for e in [*ad.shared, *ad.specific["reasoning"]]], 1)
    assert torch.allclose(out, (g.unsqueeze(-1) * experts).sum(1))
    # the factual kind's own experts do not touch the reasoning output; the shared ones do
    with torch.no_grad():
        for p in ad.specific["factual"].parameters():
            p.add_(1.0)
    assert torch.allclose(ad("reasoning", k), out)
    with torch.no_grad():
        for p in ad.shared.parameters():
            p.add_(1.0)
    assert not torch.allclose(ad("reasoning", k), out)


@pytest.fixture
def tiny_dataset(data_root):
    folder = data_root / "tiny"
    folder.mkdir()
    rows = {"u1": [1, 2], "u2": [2, 3, 4], "u3": [4]}
    with open(folder / "tiny.inter", "w", encoding="utf-8") as f:
        f.write("user_id:token\titem_id:token\n")
        for u, items in rows.items():
            f.writelines(f"{u}\ti{i}\n" for i in items)
    config = Config(model="LightGCN_RLMRecCon", dataset="tiny", config_dict=base_config(data_root))
    return config, create_dataset(config), rows


def test_user_profile_stand_in_is_the_mean_of_training_item_profiles(tiny_dataset, data_root):
    config, ds, rows = tiny_dataset
    vec = {f"i{i}": np.eye(4, dtype=np.float32)[i - 1] * i for i in range(1, 5)}
    write_features(str(data_root / "tiny" / "hnlm" / "my-items"), "item", list(vec), np.stack(list(vec.values())))
    config["profile_item_feature"] = "my-items"
    users, items = profile_tables(config, ds)
    for tok, v in vec.items():
        assert torch.equal(items[ds.token2id(ds.iid_field, tok)], torch.from_numpy(v))
    for u, its in rows.items():
        want = np.mean([vec[f"i{i}"] for i in its], axis=0)
        assert torch.allclose(users[ds.token2id(ds.uid_field, u)], torch.from_numpy(want))
    assert torch.equal(users[0], torch.zeros(4))  # padding user: no interactions
    assert torch.equal(mean_item_profile(ds, items), users)
    # an exported user-profile set is used as it is
    uvec = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_features(str(data_root / "tiny" / "hnlm" / "my-users"), "user", list(rows), uvec)
    config["profile_user_feature"] = "my-users"
    users, _ = profile_tables(config, ds)
    assert torch.equal(users[ds.token2id(ds.uid_field, "u2")], torch.from_numpy(uvec[1]))


def build(name, demo_root, **kw):
    config, _, train_data, _, _ = prepare(model=name, config_dict=base_config(demo_root, **kw))
    torch.manual_seed(0)
    return get_model(name)(config, train_data.dataset), train_data


def test_rlmrec_gen_masks_only_while_training(demo_root, monkeypatch):
    model, train_data = build("LightGCN_RLMRecGen", demo_root)
    batch = next(iter(train_data))
    user, pos, neg = batch[model.USER_ID], batch[model.ITEM_ID], batch[model.NEG_ITEM_ID]
    seen = {}
    original = type(model).propagate

    def spy(self):
        seen["user"], seen["item"] = self.user_embedding.weight.detach().clone(), self.item_embedding.weight.detach().clone()
        return original(self)

    monkeypatch.setattr(type(model), "propagate", spy)
    model.train()
    seeds = model.negative_context(user, pos, neg).masked_nodes
    monkeypatch.undo()
    n_masked = int(round(model.mask_ratio * (model.n_users + model.n_items)))
    assert len(seeds) == n_masked
    masked_users = seeds[seeds < model.n_users]
    masked_items = seeds[seeds >= model.n_users] - model.n_users
    assert torch.equal(seen["user"][masked_users], model.mask_token.detach().expand(len(masked_users), -1))
    assert torch.equal(seen["item"][masked_items], model.mask_token.detach().expand(len(masked_items), -1))
    keep = torch.ones(model.n_users, dtype=torch.bool)
    keep[masked_users] = False
    assert torch.equal(seen["user"][keep], model.user_embedding.base.weight.detach()[keep])
    # the masks are gone after the batch, and eval never masks
    assert model.user_embedding.mask_rows is None and model.item_embedding.mask_rows is None
    assert torch.equal(model.user_embedding.weight, model.user_embedding.base.weight)
    torch.manual_seed(7)
    losses = model.calculate_loss(batch)  # (bpr, reg, recon, align, anchor)
    torch.manual_seed(7)  # the same masked nodes again
    ctx = model.negative_context(user, pos, neg)
    recon = model.recon_weight * model.masked_reconstruction(ctx, ctx.masked_nodes)
    assert torch.allclose(losses[2], recon) and recon > 0
    monkeypatch.setattr(type(model), "propagate", spy)
    model.eval()  # e.g. export_hard_negatives: no masking
    model.negative_context(user, pos, neg)
    assert torch.equal(seen["user"], model.user_embedding.base.weight.detach())
    assert torch.equal(seen["item"], model.item_embedding.base.weight.detach())


def test_rlmrec_con_aligns_cf_and_profile_embeddings(demo_root):
    model, train_data = build("LightGCN_RLMRecCon", demo_root)
    model.train()
    batch = next(iter(train_data))
    losses, neg = model.loss_and_negatives(batch)
    ctx = model.negative_context(batch[model.USER_ID], batch[model.ITEM_ID], batch[model.NEG_ITEM_ID])
    # users: every user's profile is a candidate, the user's own the positive
    u = torch.nn.functional.normalize(ctx.user_all[ctx.user], dim=-1)
    keys = torch.nn.functional.normalize(model.profile_mlp(model.user_profile), dim=-1)
    logits = u @ keys.T / model.kd_tau
    user_term = (torch.logsumexp(logits, 1) - logits[torch.arange(len(u)), ctx.user]).mean()
    want = model.kd_weight * (user_term + sum(
        info_nce_in_batch(cf, model.profile_mlp(prf), model.kd_tau)
        for cf, prf in [(ctx.item_all[ctx.pos_item], model.item_profile[ctx.pos_item]),
                        (ctx.item_all[neg], model.item_profile[neg])]
    ))
    kd = losses[2]  # (bpr, reg, kd, align, anchor)
    assert torch.allclose(kd, want)
    kd.backward()
    assert model.profile_mlp.net[0].weight.grad.abs().sum() > 0
    assert model.user_embedding.weight.grad.abs().sum() > 0


def test_kar_feeds_augmented_vectors_into_the_backbone(demo_root):
    model, train_data = build("LightGCN_KAR", demo_root)
    ids = model.user_embedding.base.weight
    assert torch.allclose(model.get_ego_embeddings()[: model.n_users], ids + model.user_knowledge())
    # in training the adaptor runs once per batch; the loss is the same as without that cache
    batch = next(iter(train_data))
    model.train()
    torch.manual_seed(1)
    cached = model.calculate_loss(batch)
    assert model._kar_cache is None
    model.negative_context = lambda u, p, n: HardNegativeMixin.negative_context(model, u, p, n)  # no cache
    torch.manual_seed(1)
    fresh = model.calculate_loss(batch)
    assert all(torch.allclose(a, b) for a, b in zip(cached, fresh))
    del model.negative_context
    model.eval()
    with torch.no_grad():
        for p in model.kar_adaptor.parameters():
            p.zero_()
    assert torch.allclose(model.get_ego_embeddings()[: model.n_users], ids)  # a silent adaptor adds nothing


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in LLM_BASELINES])
def test_llm_baseline_runs_one_epoch(demo_root, name):
    result = run_recbole_hnlm(model=name, config_dict=base_config(demo_root), saved=False)
    assert len(result["epoch_seconds"]) == 1
    assert all(np.isfinite(v) and v > 0 for v in result["test_result"].values())


def test_llmrec_profile_triples_pick_nearest_and_farthest_unseen(tiny_dataset):
    _, ds, rows = tiny_dataset
    iid = {i: ds.token2id(ds.iid_field, f"i{i}") for i in range(1, 5)}
    items = torch.zeros(ds.item_num, 3)
    items[iid[1]], items[iid[2]], items[iid[3]], items[iid[4]] = (
        torch.tensor([1.0, 0, 0]), torch.tensor([0, 1.0, 0]), torch.tensor([0.6, 0.8, 0]), torch.tensor([-1.0, 0, 0]))
    users = torch.zeros(ds.user_num, 3)
    for u in rows:
        users[ds.token2id(ds.uid_field, u)] = torch.tensor([1.0, 0.1, 0])  # everyone leans to i1
    liked, disliked = profile_triples(ds, users, items, n_candidates=10, seed=0)
    by_user = {u: (ds.id2token(ds.iid_field, int(liked[ds.token2id(ds.uid_field, u)])),
                   ds.id2token(ds.iid_field, int(disliked[ds.token2id(ds.uid_field, u)]))) for u in rows}
    # u1 saw i1, i2: unseen i3 (near) and i4 (far); u2 saw i2-i4: only i1 is left; u3 saw i4
    assert by_user == {"u1": ("i3", "i4"), "u2": ("i1", "i1"), "u3": ("i1", "i2")}
    assert liked[0] == -1 and disliked[0] == -1  # padding user: no profile
    # with one candidate the disliked item is a seeded uniform draw among the unseen, never a seen one
    for seed in range(5):
        _, d = profile_triples(ds, users, items, n_candidates=1, seed=seed)
        for u, its in rows.items():
            assert ds.id2token(ds.iid_field, int(d[ds.token2id(ds.uid_field, u)])) not in {f"i{i}" for i in its}


def test_llmrec_triples_file_errors_name_the_line(tiny_dataset, data_root, caplog):
    config, ds, _ = tiny_dataset
    path = data_root / "tiny" / "hnlm" / "aug.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("user_id:token\tpos_id:token\tneg_id:token\nu1\ti3\ti4\nu9\ti1\ti2\n\nu3\ti2\ti1\n", encoding="utf-8")
    config["llmrec_augment"] = "aug.tsv"
    liked, disliked = augmented_triples(config, ds, None, None)
    u1, u3 = ds.token2id(ds.uid_field, "u1"), ds.token2id(ds.uid_field, "u3")
    assert (liked[u1], disliked[u1]) == (ds.token2id(ds.iid_field, "i3"), ds.token2id(ds.iid_field, "i4"))
    assert (liked[u3], disliked[u3]) == (ds.token2id(ds.iid_field, "i2"), ds.token2id(ds.iid_field, "i1"))
    assert int((liked >= 0).sum()) == 2 and "1 triples name users or items not in the dataset (first at line 3)" in caplog.text
    for body, where in [("user\titem\n", "line 1"), ("user_id:token\tpos_id:token\tneg_id:token\nu1\ti3\n", "line 2"),
                        ("user_id:token\tpos_id:token\tneg_id:token\nu1\ti3\ti4\nu1\ti2\ti4\n", "line 3")]:
        path.write_text(body, encoding="utf-8")
        with pytest.raises(FeatureFileError, match=f"aug.tsv, {where}"):
            read_triples(str(path), ds)
    with pytest.raises(FeatureFileError, match="no such file"):
        read_triples(str(data_root / "missing.tsv"), ds)
    config["llmrec_augment"] = "none"
    assert all(int((t >= 0).sum()) == 0 for t in augmented_triples(config, ds, None, None))


def test_llmrec_mean_adjacency_rows_average_neighbours(tiny_dataset):
    _, ds, rows = tiny_dataset
    ui, iu = mean_adjacency(ds)
    dense_ui = ui.to_dense()
    for u, its in rows.items():
        row = dense_ui[ds.token2id(ds.uid_field, u)]
        assert torch.allclose(row[[ds.token2id(ds.iid_field, f"i{i}") for i in its]], torch.full((len(its),), 1 / len(its)))
        assert torch.isclose(row.sum(), torch.tensor(1.0))
    assert torch.isclose(iu.to_dense()[ds.token2id(ds.iid_field, "i2")].sum(), torch.tensor(1.0))
    assert torch.equal(iu.to_dense(), (dense_ui > 0).float().T / (dense_ui > 0).float().T.sum(1, keepdim=True).clamp(min=1))


def test_llmrec_mean_adjacency_counts_a_repeated_interaction_once(data_root):
    folder = data_root / "rep"
    folder.mkdir()
    (folder / "rep.inter").write_text("user_id:token\titem_id:token\nu1\ti1\nu1\ti1\nu1\ti2\nu2\ti2\n", encoding="utf-8")
    ds = create_dataset(Config(model="LightGCN_RLMRecCon", dataset="rep", config_dict=base_config(data_root)))
    assert ds.inter_num == 4  # RecBole keeps the repeat
    ui, iu = mean_adjacency(ds)
    row = ui.to_dense()[ds.token2id(ds.uid_field, "u1")]
    i1, i2 = ds.token2id(ds.iid_field, "i1"), ds.token2id(ds.iid_field, "i2")
    assert torch.allclose(row[[i1, i2]], torch.tensor([0.5, 0.5]))
    assert torch.allclose(iu.to_dense()[i1, ds.token2id(ds.uid_field, "u1")], torch.tensor(1.0))


def test_llmrec_adds_side_features_and_prunes_augmented_losses(demo_root):
    model, train_data = build("LightGCN_LLMRec", demo_root, llmrec_aug_sample_rate=1.0, llmrec_prune_rate=0.5)
    model.eval()
    with torch.no_grad():
        u_cf, i_cf = LightGCN.forward(model)  # the backbone's own propagation
        u_all, i_all = model.forward()
        g_u, g_i = model.side_user(model.user_profile), model.side_item(model.item_profile)
        i_prof = torch.sparse.mm(model.adj_iu, g_u)
        u_attr = torch.sparse.mm(model.adj_ui, g_i)
        norm = torch.nn.functional.normalize
        want_u = u_cf + 0.72 * norm(torch.sparse.mm(model.adj_ui, i_prof), dim=1) + 0.003 * norm(u_attr, dim=1)
        want_i = i_cf + 0.72 * norm(i_prof, dim=1) + 0.003 * norm(torch.sparse.mm(model.adj_iu, u_attr), dim=1)
    assert torch.allclose(u_all, want_u, atol=1e-6) and torch.allclose(i_all, want_i, atol=1e-6)
    assert int((model.aug_pos >= 0).sum()) == model.n_users - 1  # every real user gets a built-in triple
    model.train()
    batch = next(iter(train_data))
    losses = model.calculate_loss(batch)  # (bpr, reg, aug, side, recon, align, anchor)
    assert len(losses) == 7 and all(float(x.detach()) > 0 for x in losses[:5])
    ctx = model.negative_context(batch[model.USER_ID], batch[model.ITEM_ID], batch[model.NEG_ITEM_ID])
    u = ctx.user_all[ctx.user]
    margin = (u * ctx.item_all[model.aug_pos[ctx.user]]).sum(-1) - (u * ctx.item_all[model.aug_neg[ctx.user]]).sum(-1)
    per = torch.sort(-torch.nn.functional.logsigmoid(margin)).values
    assert torch.allclose(model.augmented_bpr(ctx), per[: len(per) // 2].sum() / len(per))  # rate 1: every user
    sum(losses).backward()
    assert model.side_user.weight.grad.abs().sum() > 0 and model.decode_item[0].weight.grad.abs().sum() > 0


def test_llmrec_refuses_per_layer_samplers(demo_root):
    with pytest.raises(ValueError, match="neg_sampler 'mixgcf'.*use rns, dns or ahns"):
        build("LightGCN_LLMRec", demo_root, neg_sampler="mixgcf")

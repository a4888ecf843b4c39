"""The defining property of each hard-negative sampler, on small hand-made embeddings.

The samplers are built from a real RecBole Config and Dataset (a 4-user, 12-item atomic file);
only the embeddings they score are made by hand.
"""
import pytest
import torch
from recbole.data import create_dataset

from conftest import base_config
from recbole_hnlm.config import Config
from recbole_hnlm.model.general_recommender.lightgcn_hnlm import mean_pool
from recbole_hnlm.model.general_recommender.ngcf_hnlm import concat_pool
from recbole_hnlm.sampler import (
    AHNS,
    DNS,
    SAMPLERS,
    MixGCF,
    NegativeSampler,
    SamplerContext,
    TrainPositives,
    build_sampler,
)

# u1 owns 9 of the 12 items: only i10, i11, i12 are valid negatives for u1
INTERACTIONS = {"u1": range(1, 10), "u2": [1, 2, 3], "u3": [4, 5, 10], "u4": [11, 12, 6]}
D = 8


@pytest.fixture
def tiny(data_root):
    folder = data_root / "tiny"
    folder.mkdir()
    with open(folder / "tiny.inter", "w", encoding="utf-8") as f:
        f.write("user_id:token\titem_id:token\n")
        for u, items in INTERACTIONS.items():
            f.writelines(f"{u}\ti{i}\n" for i in items)

    def make(model="LightGCN_DNS", **kw):
        config = Config(model=model, dataset="tiny", config_dict=base_config(data_root, **kw))
        return config, create_dataset(config)

    return make


def uid(ds, token):
    return ds.token2id(ds.uid_field, token)


def iid(ds, token):
    return ds.token2id(ds.iid_field, token)


def is_positive(ds, users, items):
    return TrainPositives(ds).contains(users, items)


def context(ds, users, pos_tokens, user_all, item_all, layers=None, pool=None):
    """A SamplerContext for the given users / positives, with RecBole-like uniform negatives."""
    user = torch.tensor([uid(ds, u) for u in users])
    pos = torch.tensor([iid(ds, i) for i in pos_tokens])
    neg = TrainPositives(ds).sample(user, 1)[:, 0]
    user_layers, item_layers = layers or (None, None)
    return SamplerContext(user, pos, neg, user_all, item_all, user_layers, item_layers, pool)


def replay(sampler, ctx, seed):
    """The candidates the sampler draws for ``ctx`` under ``seed``, then its output under the same seed."""
    torch.manual_seed(seed)
    cand = sampler.candidates(ctx)
    torch.manual_seed(seed)
    neg_e, chosen = sampler(ctx)
    return cand, neg_e, chosen


def test_registry_and_config_names(tiny):
    assert {"rns", "dns", "mixgcf", "ahns"} <= set(SAMPLERS)
    config, ds = tiny()
    for name, cls in [("rns", NegativeSampler), ("dns", DNS), ("mixgcf", MixGCF), ("ahns", AHNS)]:
        config["neg_sampler"] = name
        assert type(build_sampler(config, ds)) is cls
    config["neg_sampler"] = "nope"
    with pytest.raises(ValueError, match="unknown"):
        build_sampler(config, ds)


def test_dns_takes_the_argmax(tiny):
    config, ds = tiny(dns_m=6)
    sampler = DNS(config, ds)
    # hand-made: candidate scores 1, 5, 3 -> index 1
    user_e = torch.tensor([[1.0, 0.0]])
    item_all = torch.tensor([[0.0, 0], [1, 0], [5, 0], [3, 0]])
    assert sampler.choose(user_e, item_all, torch.tensor([[1, 2, 3]])).tolist() == [1]
    # through __call__: score grows with the item id, so DNS returns the largest candidate id
    torch.manual_seed(0)
    user_all = torch.randn(ds.user_num, D)
    direction = user_all / user_all.norm(dim=1, keepdim=True)
    for seed in range(20):
        users = ["u2", "u3", "u4", "u2"]
        item_all = torch.arange(ds.item_num, dtype=torch.float).unsqueeze(1) * torch.ones(1, D)
        ctx = context(ds, users, ["i1", "i4", "i6", "i2"], direction.abs(), item_all)
        cand, neg_e, chosen = replay(sampler, ctx, seed)
        scores = (ctx.user_all[ctx.user].unsqueeze(1) * item_all[cand]).sum(-1)
        assert torch.equal(chosen, cand.gather(1, scores.argmax(1, keepdim=True)).squeeze(1))
        assert torch.equal(chosen, cand.max(dim=1).values)
        assert torch.equal(neg_e, item_all[chosen])


def test_dns_mn_samples_among_the_top_n(tiny):
    config, ds = tiny(dns_m=8, dns_n=3)
    sampler = DNS(config, ds)
    user_e = torch.ones(1, 1)
    item_all = torch.arange(10, dtype=torch.float).unsqueeze(1)  # score = item id
    cand = torch.tensor([[9, 1, 5, 2, 8, 3, 7, 4]])
    picked = {int(cand[0, sampler.choose(user_e, item_all, cand)]) for _ in range(300)}
    assert picked == {9, 8, 7}  # uniform over the top 3, never below
    config["dns_n"] = 9
    with pytest.raises(ValueError, match="dns_n"):
        DNS(config, ds)


def test_dns_with_one_candidate_is_rns(tiny):
    config, ds = tiny(dns_m=1)
    ctx = context(ds, ["u2", "u3"], ["i1", "i4"], torch.randn(ds.user_num, D), torch.randn(ds.item_num, D))
    _, chosen = DNS(config, ds)(ctx)
    assert torch.equal(chosen, ctx.neg_item)


@pytest.mark.parametrize("query,pool,uses_layer", [
    ("auto", mean_pool, False), ("auto", concat_pool, True), ("layer", mean_pool, True), ("pooled", mean_pool, False),
])
def test_mixgcf_negative_lies_between_positive_and_a_candidate_in_every_layer(tiny, query, pool, uses_layer):
    config, ds = tiny(model="LightGCN_MixGCF", mixgcf_m=5, mixgcf_query=query)
    sampler = MixGCF(config, ds)
    torch.manual_seed(3)
    n_layers = 3
    user_layers = [torch.randn(ds.user_num, D) for _ in range(n_layers)]
    item_layers = [torch.randn(ds.item_num, D) for _ in range(n_layers)]
    ctx = context(ds, ["u2", "u3", "u4", "u1"], ["i1", "i4", "i6", "i3"], pool(user_layers),
                  pool(item_layers), (user_layers, item_layers), pool)
    for seed in range(10):
        cand, neg_e, chosen = replay(sampler, ctx, seed)
        torch.manual_seed(seed)
        sampler.candidates(ctx)
        mixed, per_layer, alpha = sampler.mix_layers(ctx, cand)
        assert torch.allclose(neg_e, pool(mixed))
        assert torch.equal(chosen, per_layer[-1])  # the reported item: the last layer's pick
        assert ((alpha >= 0) & (alpha < 1)).all()
        for layer in range(n_layers):
            a = alpha[:, layer:layer + 1]
            pos_l = item_layers[layer][ctx.pos_item]
            cand_l = item_layers[layer][cand]  # B x M x d
            # the negative is a point of the segment [candidate, positive] ...
            assert (cand == per_layer[layer].unsqueeze(1)).any(dim=1).all()
            expected = a * pos_l + (1 - a) * item_layers[layer][per_layer[layer]]
            assert torch.allclose(mixed[layer], expected, atol=1e-6)
            # ... and, of all the mixed candidates, the one the user's query embedding scores highest
            all_mixed = a.unsqueeze(1) * pos_l.unsqueeze(1) + (1 - a.unsqueeze(1)) * cand_l
            q = user_layers[layer][ctx.user] if uses_layer else ctx.user_all[ctx.user]
            best = (q.unsqueeze(1) * all_mixed).sum(-1).max(dim=1).values
            mine = (q * mixed[layer]).sum(-1)
            assert torch.allclose(mine, best, atol=1e-5)


def test_mixgcf_pooled_query_needs_matching_sizes(tiny):
    config, ds = tiny(model="NGCF_MixGCF", mixgcf_m=4, mixgcf_query="pooled")
    sampler = MixGCF(config, ds)
    layers = [torch.randn(ds.user_num, D) for _ in range(2)], [torch.randn(ds.item_num, D) for _ in range(2)]
    ctx = context(ds, ["u2"], ["i1"], concat_pool(layers[0]), concat_pool(layers[1]), layers, concat_pool)
    with pytest.raises(ValueError, match="mixgcf_query"):
        sampler(ctx)
    ctx = context(ds, ["u2"], ["i1"], mean_pool(layers[0]), mean_pool(layers[1]), layers, mean_pool)
    neg_e, _ = sampler(ctx)
    assert neg_e.shape == (1, D)


def test_ahns_picks_the_candidate_nearest_its_target(tiny):
    config, ds = tiny(model="LightGCN_AHNS", ahns_m=6)
    sampler = AHNS(config, ds)
    assert (sampler.alpha, sampler.beta, sampler.p) == (1.0, 0.1, -2.0)  # official defaults
    # hand-made: s(u, i+) = 1 -> target 0.1 * (1 + 1) ** -1 = 0.05; candidate scores 0.9, 0.04, -0.3
    user_e = torch.tensor([[1.0, 0.0]])
    pos_e = torch.tensor([[1.0, 0.0]])
    item_all = torch.tensor([[0.0, 0], [0.9, 0], [0.04, 0], [-0.3, 0]])
    assert sampler.choose(user_e, pos_e, item_all, torch.tensor([[1, 2, 3]])).tolist() == [1]
    # the hardest (DNS) candidate is not AHNS's choice when the target is lower
    torch.manual_seed(1)
    user_all, item_all = torch.randn(ds.user_num, D), torch.randn(ds.item_num, D)
    for seed in range(20):
        ctx = context(ds, ["u2", "u3", "u4"], ["i1", "i4", "i6"], user_all, item_all)
        cand, neg_e, chosen = replay(sampler, ctx, seed)
        u = user_all[ctx.user]
        target = 0.1 * ((u * item_all[ctx.pos_item]).sum(-1, keepdim=True) + 1.0) ** -1
        gap = ((u.unsqueeze(1) * item_all[cand]).sum(-1) - target).abs()
        mine = ((u * item_all[chosen]).sum(-1, keepdim=True) - target).abs().squeeze(1)
        assert torch.allclose(mine, gap.min(dim=1).values)
        assert torch.equal(neg_e, item_all[chosen])


def test_ahns_undefined_target_falls_back_to_the_uniform_negative(tiny):
    config, ds = tiny(model="LightGCN_AHNS", ahns_m=4, ahns_p=-1.5)  # (s + alpha) ** -0.5 of a negative
    sampler = AHNS(config, ds)
    user_e, pos_e = torch.tensor([[1.0]]), torch.tensor([[-5.0]])
    item_all = torch.arange(6, dtype=torch.float).unsqueeze(1)
    assert sampler.choose(user_e, pos_e, item_all, torch.tensor([[3, 4, 5, 1]])).tolist() == [0]


@pytest.mark.parametrize("name", ["dns", "mixgcf", "ahns"])
def test_no_training_positive_is_ever_returned(tiny, name):
    """u1 owns 9 of 12 items, scored far above the 3 it does not own; 300 draws of every sampler."""
    config, ds = tiny(model="LightGCN_DNS", neg_sampler=name, dns_m=16, mixgcf_m=16, ahns_m=16, dns_n=4)
    sampler = build_sampler(config, ds)
    u1 = uid(ds, "u1")
    owned = torch.tensor([iid(ds, f"i{i}") for i in INTERACTIONS["u1"]])
    layers_u = [torch.ones(ds.user_num, D) for _ in range(3)]
    layers_i = [torch.full((ds.item_num, D), -1.0) for _ in range(3)]
    for layer in layers_i:
        layer[owned] = 10.0  # the owned items are by far the hardest (and nearest any target)
    pool = mean_pool
    users = ["u1"] * 6 + ["u2", "u3", "u4"]
    pos = ["i1", "i2", "i3", "i4", "i5", "i9", "i1", "i4", "i6"]
    seen = set()
    for draw in range(300):
        torch.manual_seed(draw)
        ctx = context(ds, users, pos, pool(layers_u), pool(layers_i), (layers_u, layers_i), pool)
        if draw % 2:
            ctx.neg_item = None  # the export path draws all M candidates itself
        _, chosen = sampler(ctx)
        assert not is_positive(ds, ctx.user, chosen).any()
        seen.update(chosen[ctx.user == u1].tolist())
    assert seen <= {iid(ds, "i10"), iid(ds, "i11"), iid(ds, "i12")}


def test_candidate_samplers_refuse_recbole_dynamic_sampling(tiny):
    config, ds = tiny(train_neg_sample_args={"distribution": "uniform", "sample_num": 1, "dynamic": True,
                                             "candidate_num": 4})
    with pytest.raises(ValueError, match="dynamic"):
        DNS(config, ds)

"""Semantic candidates and false-negative guards of the candidate samplers, and the HNLM ablation switches."""
import logging

import pytest
import torch
import torch.nn.functional as F

from conftest import base_config
from recbole_hnlm.quick_start import prepare, run_recbole_hnlm
from recbole_hnlm.sampler.candidates import take
from recbole_hnlm.sampler.semantic import text_neighbours
from recbole_hnlm.utils import get_model


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return tmp_path_factory.mktemp("semantic") / "atomic_data"


def build(demo, name, **kw):
    config, _, train_data, _, _ = prepare(model=name, config_dict=base_config(demo, **kw))
    model = get_model(name)(config, train_data.dataset)
    batch = next(iter(train_data))
    ctx = model.negative_context(batch[model.USER_ID], batch[model.ITEM_ID], batch[model.NEG_ITEM_ID])
    return config, model, batch, ctx


def test_text_neighbours_by_hand():
    text = F.normalize(torch.tensor([[0, 0], [1, 0], [0.9, 0.1], [0, 1], [-1, 0.05]]).float(), dim=-1)
    text[0] = 0
    ids, sims = text_neighbours(text, 2)
    assert ids[1].tolist() == [2, 3] and ids[3].tolist() == [2, 4]  # never itself, never the padding row
    assert torch.allclose(sims[1], text[1] @ text[[2, 3]].T)


@pytest.mark.parametrize("name", ["LightGCN_DNS", "LightGCN_MixGCF", "LightGCN_AHNS"])
def test_the_positive_guard_is_never_broken_where_a_candidate_passes(demo, name):
    config, model, batch, ctx = build(demo, name, semantic_guard_cos=0.4, semantic_guard_share=1.0)
    sampler = model.neg_sampler
    torch.manual_seed(3)
    _, chosen = sampler(ctx)
    torch.manual_seed(3)
    cand = sampler.candidates(ctx)
    reject = sampler.semantic.rejects(ctx.user, ctx.pos_item, cand)
    assert 0.01 < reject.float().mean() < 0.99  # the threshold bites on the demo set's text
    cos = (sampler.semantic.text[chosen] * sampler.semantic.text[ctx.pos_item]).sum(-1)
    passable = ~reject.all(dim=1)
    assert bool((cos[passable] <= 0.4 + 1e-6).all())
    assert bool((chosen[~passable] == cand[~passable, 0]).all())  # nothing passes: RecBole's uniform negative


def test_the_history_guard_rejects_what_is_close_to_any_training_item(demo):
    config, model, batch, ctx = build(demo, "LightGCN_DNS", semantic_guard_cos=0.6, semantic_guard_share=1.0, semantic_guard_history=True,
                                      semantic_guard_k=5)
    sem = model.neg_sampler.semantic
    ds_users, items = ctx.user[:64], ctx.pos_item[:64]
    near, sims = sem.neighbours[items, :5], sem.neighbour_sims[items, :5]
    want = sims > 0.6  # a training pair's own close neighbours are ruled out for that user...
    got = sem.rejects(ds_users, items, near)
    assert bool(got[want].all())
    assert want.any()


def test_the_semantic_pool_takes_unseen_text_neighbours(demo):
    config, model, batch, ctx = build(demo, "LightGCN_DNS", semantic_pool_k=8, semantic_pool_skip=1,
                                      semantic_pool_share=0.25, dns_m=16)
    sampler = model.neg_sampler
    cand = sampler.candidates(ctx)
    assert cand.shape == (len(ctx.user), 16) and torch.equal(cand[:, 0], ctx.neg_item)
    assert not sampler.positives.contains(ctx.user, cand).any()
    pool = cand[:, -4:]
    allowed = sampler.semantic.neighbours[ctx.pos_item, 1:9]
    from_pool = (pool.unsqueeze(-1) == allowed.unsqueeze(1)).any(-1)
    assert from_pool.float().mean() > 0.9  # a row falls back to uniform draws only when the user saw them all
    assert not (pool.unsqueeze(-1) == sampler.semantic.neighbours[ctx.pos_item, :1].unsqueeze(1)).any()


def test_far_from_user_takes_the_neighbours_farthest_from_the_users_profile(demo):
    config, model, batch, ctx = build(demo, "LightGCN_DNS", semantic_pool_k=10, semantic_pool_share=0.125,
                                      dns_m=16, semantic_pool_order="far_from_user")
    sem = model.neg_sampler.semantic
    picked = sem.pool(ctx.user, ctx.pos_item, 2)
    near = sem.neighbours[ctx.pos_item, :10]
    closeness = (sem.text[near] * sem.user_profile[ctx.user].unsqueeze(1)).sum(-1)
    closeness = closeness.masked_fill(sem.positives.contains(ctx.user, near), float("inf"))
    want = near.gather(1, closeness.argsort(dim=1)[:, :2])
    agree = (picked == want).all(dim=1)
    assert agree.float().mean() > 0.9


def test_guard_above_positive(demo):
    config, model, batch, ctx = build(demo, "LightGCN_DNS", guard_above_positive=True)
    torch.manual_seed(5)
    _, chosen = model.neg_sampler(ctx)
    q = ctx.user_all[ctx.user]
    score = lambda i: (q * ctx.item_all[i]).sum(-1)  # noqa: E731
    torch.manual_seed(5)
    cand = model.neg_sampler.candidates(ctx)
    passable = (score(cand.T).T <= score(ctx.pos_item).unsqueeze(1)).any(dim=1)
    assert bool((score(chosen)[passable] <= score(ctx.pos_item)[passable] + 1e-6).all())


def test_semantic_negatives_off_removes_mixing_and_the_text_in_the_sampler(demo):
    config, model, batch, ctx = build(demo, "LightGCN_HNLM", semantic_negatives=False, neg_sampler="dns",
                                      semantic_guard_cos=0.5, semantic_guard_share=1.0, semantic_pool_k=8)
    assert model.mix_alpha == 0 and model.neg_sampler.semantic is None
    assert model.anchor_weight > 0 and model.align_weight > 0 and model.projector is not None  # the rest stays
    user, pos = ctx.user, ctx.pos_item
    neg_e, _ = model.neg_sampler(ctx)
    mixed, _, _ = model.semantic_terms(user, pos, ctx.user_all[user], ctx.item_all[pos], neg_e)
    assert torch.equal(mixed, neg_e)


def test_anchor_without_cf_gradient_trains_only_the_projector(demo):
    for cf_grad in (True, False):
        config, model, batch, ctx = build(demo, "LightGCN_HNLM", anchor_cf_grad=cf_grad, mix_alpha=0,
                                          align_weight=0)
        losses = model.calculate_loss(batch)
        losses[-1].backward()  # the anchor part alone
        assert model.projector.net[0].weight.grad.abs().sum() > 0
        moved = model.item_embedding.weight.grad is not None and model.item_embedding.weight.grad.abs().sum() > 0
        assert moved == cf_grad


def test_alpha_curriculum_rises_with_the_trainers_epochs(demo):
    config, model, batch, ctx = build(demo, "LightGCN_HNLM", mix_alpha_warmup=4, mix_alpha=0.2)
    alphas = []
    for epoch in range(6):
        model.set_epoch(epoch)
        alphas.append(model.current_alpha())
    assert alphas == pytest.approx([0, 0.05, 0.1, 0.15, 0.2, 0.2])
    # the trainer sets the epoch: in epoch 0 the curriculum trains exactly as alpha = 0 does
    loss = {name: run_recbole_hnlm(model="LightGCN_HNLM", config_dict=base_config(demo, **kw), saved=False)["train_loss"]
            for name, kw in (("warmup", {"mix_alpha_warmup": 4, "mix_alpha": 0.2}), ("zero", {"mix_alpha": 0.0}),
                             ("full", {"mix_alpha": 0.2}))}
    assert loss["warmup"] == pytest.approx(loss["zero"], rel=1e-7)  # summation order only
    assert abs(loss["full"][0] - loss["zero"][0]) > 1e-3


def test_norm_floor_stops_short_embeddings_from_being_stretched():
    from recbole_hnlm.model.layers import info_nce, info_nce_in_batch, unit_or_short

    torch.manual_seed(0)
    q, c = torch.randn(6, 8), torch.randn(6, 3, 8)
    assert float(info_nce(q, c, 0.2, floor=1e-6)) == pytest.approx(float(info_nce(q, c, 0.2)), rel=1e-6)
    short = unit_or_short(q * 0.01, floor=1.0)
    assert torch.allclose(short.norm(dim=-1), q.norm(dim=-1) * 0.01)
    # the gradient of a short embedding is bounded by the floor, not 1 / its norm
    grads = {}
    for floor in (0.0, 1.0):
        x = (q * 0.01).requires_grad_()
        info_nce_in_batch(x, c[:, 0], 0.2, floor).backward()
        grads[floor] = x.grad.norm()
    assert grads[0.0] > 20 * grads[1.0]


def test_gathered_dots_equal_the_full_gather_in_any_chunking(monkeypatch):
    from recbole_hnlm.sampler import semantic

    torch.manual_seed(0)
    table, index, query = torch.randn(50, 8), torch.randint(50, (37, 5)), torch.randn(37, 8)
    want = (table[index] * query.unsqueeze(1)).sum(-1)
    for rows in (1, 7, 37, 256):  # rows gathered at a time: budget // (M * d)
        monkeypatch.setattr(semantic, "GATHER_BUDGET", rows * 5 * 8)
        assert torch.allclose(semantic.gathered_dots(table, index, query), want, atol=1e-6)


def test_above_positive_guard_keeps_a_semantic_negative_scored_above_the_positive_out_of_the_mix(demo):
    config, model, batch, ctx = build(demo, "LightGCN_HNLM", guard_above_positive=True, mix_alpha=0.25)
    user, pos = ctx.user[:8], ctx.pos_item[:8]
    with torch.no_grad():
        e_hard = model.hard_embedding(user, pos)
    neg_e = torch.randn_like(e_hard)
    e_hard = e_hard * (neg_e.norm(dim=-1, keepdim=True) / e_hard.norm(dim=-1, keepdim=True))  # hard_norm: match
    u_e = e_hard.clone()
    pos_e = torch.cat([-e_hard[:4], 3 * e_hard[4:]])  # rows 0-3: u . e_hard > u . e_pos; rows 4-7: below
    mixed, _, _ = model.semantic_terms(user, pos, u_e, pos_e, neg_e)
    assert torch.allclose(mixed[:4], neg_e[:4])  # ruled out: the sampled negative alone
    assert torch.allclose(mixed[4:], 0.75 * neg_e[4:] + 0.25 * e_hard[4:], atol=1e-5)
    model.guard_above_positive = False
    mixed, _, _ = model.semantic_terms(user, pos, u_e, pos_e, neg_e)
    assert torch.allclose(mixed, 0.75 * neg_e + 0.25 * e_hard, atol=1e-5)


def test_precomputed_close_pairs_reject_what_the_cosines_reject(demo):
    from recbole_hnlm.sampler.semantic import close_pairs, gathered_dots

    config, model, batch, ctx = build(demo, "LightGCN_DNS", semantic_guard_cos=0.5, semantic_guard_share=1.0)
    sem = model.neg_sampler.semantic
    assert sem.close is not None  # the demo's text has few pairs above 0.5
    cand = model.neg_sampler.candidates(ctx)
    by_cosine = gathered_dots(sem.text, cand, sem.text[ctx.pos_item]) > 0.5
    assert 0 < by_cosine.float().mean() < 1
    assert torch.equal(sem.rejects(ctx.user, ctx.pos_item, cand), by_cosine)
    assert close_pairs(sem.text, 0.5, limit=10)[0] is None  # too many: the guard computes cosines per batch
    sem.close = None
    assert torch.equal(sem.rejects(ctx.user, ctx.pos_item, cand), by_cosine)


def test_pair_quantile_and_close_pairs_by_hand():
    from recbole_hnlm.sampler.semantic import close_pairs, pair_quantile

    text = F.normalize(torch.tensor([[1, 0], [1, 0.1], [1, 0.3], [0, 1]]).float(), dim=-1)
    # cosines of the 6 pairs of distinct items (12 ordered): 0.995, 0.958, 0.0995 (0-1, 0-2, 0-3), 0.982 (1-2), ...
    close, share = close_pairs(text, 0.99, limit=100)
    assert share == 2 / 12 and sorted(close.codes.tolist()) == [0 * 4 + 1, 1 * 4 + 0]  # never an item with itself
    assert abs(pair_quantile(text, 2 / 12) - 0.9950) < 1e-3  # the 2nd largest of the 12: pair 0-1 (both orders)
    assert abs(pair_quantile(text, 4 / 12) - 0.9822) < 1e-3
    assert close_pairs(text, pair_quantile(text, 4 / 12), limit=100)[1] == 2 / 12  # ties at the k-th: strictly above


def test_a_guard_that_rules_out_most_item_pairs_is_raised_to_its_share(demo, caplog):
    from recbole_hnlm.sampler.semantic import close_pairs

    with caplog.at_level(logging.INFO):
        config, model, batch, ctx = build(demo, "LightGCN_DNS", semantic_guard_cos=-0.5, semantic_guard_share=0.01)
    sem = model.neg_sampler.semantic
    assert close_pairs(sem.text, -0.5, limit=0)[1] > 0.5
    assert sem.guard_cos > 0.0
    assert 0.005 < close_pairs(sem.text, sem.guard_cos, limit=0)[1] <= 0.01
    assert any("semantic_guard_cos=-0.5" in r.getMessage() and "semantic_guard_share" in r.getMessage()
               for r in caplog.records)
    cand = model.neg_sampler.candidates(ctx)
    rejected = sem.rejects(ctx.user, ctx.pos_item, cand).float().mean()
    assert rejected < 0.1  # not most candidates, as -0.5 alone would

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        config, model, batch, ctx = build(demo, "LightGCN_DNS", semantic_guard_cos=-0.5, semantic_guard_share=1.0)
    assert model.neg_sampler.semantic.guard_cos == -0.5
    assert any("rules out most candidates" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        config, model, batch, ctx = build(demo, "LightGCN_DNS", semantic_guard_cos=0.8, semantic_guard_share=0.01)
    assert model.neg_sampler.semantic.guard_cos == 0.8  # the demo's text: under 1% of pairs above 0.8, nothing raised
    assert not any("text guard" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("ratio", [0, 10**6])  # always the gather; always the users x items product
def test_candidate_dots_equal_the_gather_either_way(monkeypatch, ratio):
    from recbole_hnlm.sampler import candidates

    monkeypatch.setattr(candidates, "SCORE_TABLE_RATIO", ratio)
    torch.manual_seed(0)
    items, users = torch.randn(50, 8), torch.randn(9, 8)
    user = torch.tensor([4, 0, 4, 8, 8, 8, 2, 0, 4, 1, 3])  # repeated users, as in a batch
    cand = torch.randint(50, (len(user), 6))
    query = users[user]
    want = (items[cand] * query.unsqueeze(1)).sum(-1)
    assert torch.allclose(candidates.candidate_dots(items, cand, query, user), want, atol=1e-6)

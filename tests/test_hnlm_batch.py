"""HNLM per batch: the projector runs once over distinct rows, and the anchor InfoNCE is bounded."""
import pytest
import torch

from recbole_hnlm.model.layers import info_nce, info_nce_in_batch, match_norm, mix_negative
from recbole_hnlm.quick_start import prepare
from recbole_hnlm.utils import get_model
from tests.conftest import base_config


def _model_and_batch(data_root, **overrides):
    config, _, train_data, _, _ = prepare("LightGCN_HNLM", config_dict=base_config(data_root, **overrides))
    model = get_model("LightGCN_HNLM")(config, train_data.dataset)
    batch = next(iter(train_data))
    return model, batch["user_id"], batch["item_id"], batch["neg_item_id"]


@pytest.mark.parametrize("n_hard", [1, 2])
def test_projecting_distinct_rows_gives_the_per_row_losses(data_root, n_hard):
    model, user, pos, neg = _model_and_batch(data_root, mix_alpha=0.2, align_weight=0.1, anchor_weight=0.1,
                                             n_hard=n_hard, anchor_max_items=0,
                                             guard_above_positive=False)
    with torch.no_grad():
        u_all, i_all = model.propagate()
        u_e, pos_e, neg_e = u_all[user], i_all[pos], i_all[neg]
        mixed, align, anchor = model.semantic_terms(user, pos, u_e, pos_e, neg_e)
        # the straightforward form: the projector over every pair's row
        e_hard = match_norm(model.projector(model.semantic.lookup(user, pos)), neg_e)
        want_mixed = mix_negative(neg_e, e_hard, 0.2)
        want_align = 0.1 * info_nce(u_e, torch.stack([pos_e, e_hard], dim=1), model.align_tau, model.align_norm_floor)
        text = model.projector(model.anchor_text.lookup(user, pos))
        want_anchor = 0.1 * info_nce_in_batch(text, pos_e, model.align_tau, model.align_norm_floor)
        distinct, _ = model.semantic.rows(user, pos)
    assert len(distinct) < len(user)  # the batch shares rows, so there was something to save
    assert torch.allclose(mixed, want_mixed, atol=1e-6, rtol=0)
    assert abs(float(align - want_align)) < 1e-6 and abs(float(anchor - want_anchor)) < 1e-6


def _anchor(model, user, pos, u_all, i_all):
    return model.semantic_terms(user, pos, u_all[user], i_all[pos], i_all[pos])[2]


def test_bounded_anchor_is_the_infonce_of_a_random_subset(data_root):
    model, user, pos, _ = _model_and_batch(data_root, mix_alpha=0.0, anchor_weight=0.5, anchor_max_items=16,
                                           anchor_distinct=True, align_norm_floor=0.0)
    with torch.no_grad():
        u_all, i_all = model.propagate()
        torch.manual_seed(3)
        got = _anchor(model, user, pos, u_all, i_all)
        torch.manual_seed(3)
        items = torch.unique(pos)
        items = items[torch.randperm(len(items))[:16].sort().values]
        text = model.projector(model.anchor_text.lookup(user[:16], items))
        want = 0.5 * info_nce_in_batch(text, i_all[items], model.align_tau, model.align_norm_floor)
        # by hand: softmax over the 16 x 16 cosine logits, -log at the diagonal
        q = torch.nn.functional.normalize(text, dim=-1)
        k = torch.nn.functional.normalize(i_all[items], dim=-1)
        logits = q @ k.T / model.align_tau
        hand = 0.5 * (logits.logsumexp(dim=1) - logits.diag()).mean()
    assert abs(float(got - want)) < 1e-6 and abs(float(got - hand)) < 1e-5


@pytest.mark.parametrize("distinct", [False, True])
def test_anchor_bound_above_the_batch_is_the_unbounded_form(data_root, distinct):
    model, user, pos, _ = _model_and_batch(data_root, mix_alpha=0.0, anchor_weight=0.5, anchor_distinct=distinct,
                                           anchor_max_items=0)
    with torch.no_grad():
        u_all, i_all = model.propagate()
        unbounded = _anchor(model, user, pos, u_all, i_all)
        model.anchor_max_items = len(user) + 1
        state = torch.random.get_rng_state()
        bounded = _anchor(model, user, pos, u_all, i_all)
        assert torch.equal(state, torch.random.get_rng_state())  # no draw when the bound is not reached
        model.anchor_max_items = len(user) // 4
        smaller = _anchor(model, user, pos, u_all, i_all)
    assert float(bounded) == float(unbounded) and float(smaller) != float(unbounded)

import math

import pytest
import torch

import torch.nn.functional as F

from recbole_hnlm.model import layers
from recbole_hnlm.model.layers import Projector, info_nce, info_nce_in_batch, info_nce_table, match_norm, mix_negative


def test_projector_shape_and_gradient():
    proj = Projector(384, 32, 64)
    x = torch.randn(5, 384)
    out = proj(x)
    assert out.shape == (5, 64)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in proj.parameters())


def test_mix_negative_hand_computed():
    e_neg = torch.tensor([[1.0, 0.0]])
    e_hard = torch.tensor([[0.0, 2.0]])
    assert torch.equal(mix_negative(e_neg, e_hard, 0.25), torch.tensor([[0.75, 0.5]]))
    assert torch.equal(mix_negative(e_neg, e_hard, 0.0), e_neg)


def test_match_norm_rescales_to_reference():
    vec = torch.tensor([[3.0, 4.0], [0.0, 10.0]])
    ref = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    out = match_norm(vec, ref)
    assert torch.allclose(out.norm(dim=1), torch.tensor([1.0, 2.0]))
    assert torch.allclose(out[0], torch.tensor([0.6, 0.8]))  # direction kept


def test_info_nce_hand_computed():
    # cos(q, pos) = 1, cos(q, neg) = 0, tau = 0.5 -> loss = log(e^2 + e^0) - 2
    q = torch.tensor([[1.0, 0.0]])
    cand = torch.tensor([[[2.0, 0.0], [0.0, 3.0]]])
    expected = math.log(math.exp(2.0) + 1.0) - 2.0
    assert info_nce(q, cand, 0.5).item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_in_batch_hand_computed():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    k = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    # row 0: logits [1, 1/sqrt2]/tau ; row 1: logits [0, 1/sqrt2]/tau, positive on the diagonal
    tau = 0.2
    s = 1 / math.sqrt(2)
    l0 = math.log(math.exp(1 / tau) + math.exp(s / tau)) - 1 / tau
    l1 = math.log(math.exp(0) + math.exp(s / tau)) - s / tau
    assert info_nce_in_batch(q, k, tau).item() == pytest.approx((l0 + l1) / 2, rel=1e-6)


def test_info_nce_table_hand_computed():
    # query 0 aims at key 1 (cos 1), query 1 at key 0 (cos 0 with itself's direction); tau 0.5
    q = torch.tensor([[0.0, 2.0], [1.0, 0.0]])
    keys = torch.tensor([[3.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    target = torch.tensor([1, 2])
    row0 = math.log(1.0 + math.exp(2.0) + 1.0) - 2.0       # cosines 0, 1, 0
    row1 = math.log(math.exp(2.0) + 1.0 + math.exp(-2.0)) + 2.0  # cosines 1, 0, -1; positive is -1
    assert info_nce_table(q, keys, target, 0.5).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


@pytest.mark.parametrize("block", [7, 1 << 20])  # 7 logits: one row a block, and every row in one block
def test_info_nce_table_equals_cross_entropy_in_value_and_gradient(monkeypatch, block):
    monkeypatch.setattr(layers, "LOGIT_BLOCK", block)
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(9, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(13, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([0, 3, 3, 12, 5, 5, 5, 1, 0])  # repeated positives, as a batch's users repeat
    ref = F.cross_entropy(F.normalize(q, dim=-1) @ F.normalize(keys, dim=-1).T / 0.3, target)
    ref_gq, ref_gk = torch.autograd.grad(2.5 * ref, (q, keys))
    out = info_nce_table(q, keys, target, 0.3)
    gq, gk = torch.autograd.grad(2.5 * out, (q, keys))
    assert out.item() == pytest.approx(ref.item(), rel=1e-12)
    assert torch.allclose(gq, ref_gq, atol=1e-12) and torch.allclose(gk, ref_gk, atol=1e-12)
    with torch.no_grad():
        assert info_nce_table(q, keys, target, 0.3).item() == pytest.approx(ref.item(), rel=1e-12)


def test_info_nce_table_exact_when_the_positive_underflows():
    # tau 1e-3: the positive's softmax is exp(-2000) = 0 in float32; the loss is still 2 / tau = 2000
    q = torch.tensor([[1.0, 0.0]], requires_grad=True)
    keys = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    loss = info_nce_table(q, keys, torch.tensor([1]), 1e-3)
    assert loss.item() == pytest.approx(2000.0, rel=1e-5)
    loss.backward()
    assert torch.isfinite(q.grad).all()

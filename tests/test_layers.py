import math

import pytest
import torch

from recbole_hnlm.model.layers import Projector, info_nce, info_nce_in_batch, match_norm, mix_negative


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

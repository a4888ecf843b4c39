"""Shared pieces of the HNLM objective: projector (HNLM Eq. 6), negative mixing (Eq. 7), InfoNCE (Eq. 9).

Reference:
    Chu Zhao, Enneng Yang, Yuting Liu, Jianzhe Zhao, Guibing Guo, Xingwei Wang. "Can LLM-Driven Hard Negative
    Sampling Empower Collaborative Filtering? Findings and Potentials." arXiv:2504.04726, 2025.
    Xubin Ren et al. "Representation Learning with Large Language Models for Recommendation." in WWW 2024.

Reference code:
    https://github.com/user683/HNLMRec
    https://github.com/HKUDS/RLMRec
"""
import contextlib

import torch
import torch.nn.functional as F
from torch import nn


class Projector(nn.Module):
    """HNLM Eq. 6: e_hard = W2 ReLU(W1 e_llm + b1) + b2, from the text space into the CF space."""

    def __init__(self, in_dim, hidden_dim, out_dim):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))

    def forward(self, x):
        return self.net(x)


def match_norm(vec, reference, eps=1e-8):
    """``vec`` rescaled row-wise to the L2 norm of ``reference``.

    This bounds the mixed-in vector: without it the free projector can scale e_hard until
    u . e_hard -> -inf and the BPR loss falls to 0 without learning (README.md#the-trap-in-eq-6-9-and-the-guards).
    """
    return vec * (reference.norm(dim=-1, keepdim=True) / (vec.norm(dim=-1, keepdim=True) + eps))


def mix_negative(e_neg, e_hard, alpha):
    """HNLM Eq. 7: (1 - alpha) e_neg + alpha e_hard."""
    return (1.0 - alpha) * e_neg + alpha * e_hard


def unit_or_short(x, floor=0.0):
    """``x / max(||x||, floor)`` row-wise: L2-normalised, except that rows shorter than ``floor`` are
    divided by ``floor`` (not stretched to length 1). ``floor = 0`` is plain L2 normalisation."""
    if not floor:
        return F.normalize(x, dim=-1)
    return x / x.norm(dim=-1, keepdim=True).clamp_min(floor)


def info_nce(query, candidates, tau, floor=0.0):
    """InfoNCE with cosine similarity / tau; ``candidates[:, 0]`` is the positive (HNLM Eq. 9).

    ``query`` B x d, ``candidates`` B x M x d. Returns the mean of -log softmax at the positive.
    ``floor`` > 0 replaces the cosine by :func:`unit_or_short` products.
    """
    q = unit_or_short(query, floor).unsqueeze(1) / tau  # 1 / tau on the B x d side, not on the logits
    c = unit_or_short(candidates, floor)
    logits = (q * c).sum(-1)
    return (torch.logsumexp(logits, dim=1) - logits[:, 0]).mean()


def info_nce_in_batch(query, keys, tau, floor=0.0):
    """InfoNCE where row i of ``keys`` is the positive of query i and the other rows its negatives."""
    logits = (unit_or_short(query, floor) / tau) @ unit_or_short(keys, floor).T  # 1 / tau on B x d, not B x B
    return F.cross_entropy(logits, torch.arange(len(query), device=query.device))


LOGIT_BLOCK = 1 << 20  # floats of logits held at a time by info_nce_table (4 MB): the rows of a block stay in cache


def _table_nce_pass(q, k, target, grads):
    """Sum over rows b of -log softmax_n(q_b . k_n) at n = target_b, LOGIT_BLOCK logits at a time; with ``grads``
    also its gradients with respect to ``q`` and ``k`` (softmax minus one-hot, times the other side)."""
    rows = max(1, LOGIT_BLOCK // max(1, len(k)))
    total = q.new_zeros(())
    gq = torch.empty_like(q) if grads else None
    gk = torch.zeros_like(k) if grads else None
    k_t = k.T.contiguous()  # d x N: the logits' product is ~1.6x faster from this layout than from k.T
    for start in range(0, len(q), rows):
        qb, tb = q[start:start + rows], target[start:start + rows].unsqueeze(1)
        logits = qb @ k_t
        p = torch.softmax(logits, dim=1)  # one fused pass; logsumexp and exp would be three
        p_pos = p.gather(1, tb).squeeze(1)
        loss = -p_pos.log()
        lost = p_pos == 0  # underflow (a loss above ~87): exact from the logits
        if lost.any():
            loss[lost] = torch.logsumexp(logits[lost], dim=1) - logits[lost].gather(1, tb[lost]).squeeze(1)
        total = total + loss.sum()
        if grads:
            p.scatter_add_(1, tb, p.new_full(tb.shape, -1.0))
            gq[start:start + rows] = p @ k
            gk.addmm_(p.T, qb)
    return total, gq, gk


class _TableInfoNCE(torch.autograd.Function):
    """The mean of :func:`_table_nce_pass` over rows; the gradients come out of the same pass (the loss is a
    scalar), so the B x N logits and their softmax are never held whole, as autograd would hold them."""

    @staticmethod
    def forward(ctx, q, k, target):
        total, gq, gk = _table_nce_pass(q, k, target, grads=True)
        ctx.save_for_backward(gq, gk)
        return total / len(q)

    @staticmethod
    def backward(ctx, grad):
        gq, gk = ctx.saved_tensors
        scale = grad / len(gq)
        return gq * scale, gk * scale, None


def info_nce_table(query, keys, target, tau):
    """InfoNCE with cosine / tau where ``keys[target[b]]`` is query b's positive and every other row of ``keys``
    its negative (RLMRec-Con's user term: all users are the negatives). Equal to
    ``cross_entropy(normalize(query) @ normalize(keys).T / tau, target)``, in blocks of rows."""
    q = F.normalize(query, dim=-1) / tau
    k = F.normalize(keys, dim=-1)
    if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad):
        return _TableInfoNCE.apply(q, k, target)
    return _table_nce_pass(q, k, target, grads=False)[0] / len(q)


@contextlib.contextmanager
def seeded_cpu_rng(seed):
    """Draws inside come from the CPU generator seeded with ``seed``; the caller's CPU stream is restored after.

    Building a model's extra parts this way does not shift the backbone's random stream. Only the CPU generator
    is seeded: ``torch.manual_seed`` would also reseed CUDA's, which the fork does not restore.
    """
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield

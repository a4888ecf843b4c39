"""Samplers that pick among M uniform candidates scored with the batch's propagated embeddings.

Reference:
    Weinan Zhang et al. "Optimizing Top-N Collaborative Filtering via Dynamic Negative Item Sampling." in SIGIR 2013.
    Tinglin Huang et al. "MixGCF: An Improved Training Method for Graph Neural Network-based Recommender
    Systems." in KDD 2021.
    Riwei Lai et al. "Adaptive Hardness Negative Sampling for Collaborative Filtering." in AAAI 2024.

Reference code:
    https://github.com/huangtinglin/MixGCF
    https://github.com/Riwei-HEU/AHNS

Shared by DNS, MixGCF and AHNS: the candidate pool (never a training positive of the user) and
the inner-product score that every backbone of the plugin ranks with. Scoring reuses the
embeddings the loss already propagated (the :class:`SamplerContext`), so a hard sampler costs
one gather of B x M x d per batch, not another pass over the graph.
"""
import torch

from recbole_hnlm.codes import first_occurrence
from recbole_hnlm.sampler.base import NegativeSampler, TrainPositives
from recbole_hnlm.sampler.semantic import SemanticCandidates, gathered_dots, uses_semantic_candidates

# Where (distinct users x items) is at most this many times the B x M candidates, the scores come from that whole
# product and are then looked up, which beat gathering M item rows per pair below a ratio of about 20 on the 2-core
# machine (ml-100k: DNS with M = 32 at ~17, MixGCF with M = 64 at ~9; results/cost.md). Either way the scores are
# the same up to float rounding.
SCORE_TABLE_RATIO = 20


def candidate_dots(item_emb, cand, query, user):
    """``item_emb[cand[b, m]] . query[b]`` (B x M), where rows of ``query`` with the same ``user`` are equal."""
    first, inverse = first_occurrence(user, return_inverse=True)
    if len(first) * len(item_emb) > SCORE_TABLE_RATIO * cand.numel():
        return gathered_dots(item_emb, cand, query)
    table = query[first] @ item_emb.T
    return table.view(-1).take(inverse.unsqueeze(1) * len(item_emb) + cand)


class CandidateSampler(NegativeSampler):
    """Base class: ``self.n_candidates`` (M, read from config key ``m_key``) candidates per pair.

    The first candidate is RecBole's own uniform negative (``ctx.neg_item``, drawn by
    ``train_neg_sample_args`` from items that are not the user's training positives); the other
    M - 1 are drawn uniformly by :class:`TrainPositives`. Every candidate is thus a uniform draw
    that is not a training positive, and M = 1 is exactly RNS (same random stream as well).
    """

    m_key = None

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.n_candidates = config[self.m_key]
        neg_args = config["train_neg_sample_args"] or {}  # None where a stand-in config (the SCFT teacher) has none
        if neg_args.get("dynamic", False):
            raise ValueError(
                f"neg_sampler {self.name!r} chooses hard negatives itself; RecBole's "
                f"train_neg_sample_args.dynamic must be False (use one or the other)"
            )
        self.positives = TrainPositives(dataset)
        self.semantic = SemanticCandidates(config, dataset, self.positives) if uses_semantic_candidates(config) else None
        self.guard_above_positive = bool(config["guard_above_positive"])

    def to(self, device):
        self.positives.to(device)
        if self.semantic is not None:
            self.semantic.to(device)
        return self

    def candidates(self, ctx):
        """B x M item ids that are not training positives of ``ctx.user``; the last ones from the semantic
        pool where one is configured (:mod:`recbole_hnlm.sampler.semantic`)."""
        parts = [] if ctx.neg_item is None else [ctx.neg_item.reshape(-1, 1)]
        n_pool = self.semantic.pool_size(self.n_candidates) if self.semantic is not None else 0
        n_pool = min(n_pool, self.n_candidates - len(parts))
        n_uniform = self.n_candidates - n_pool - len(parts)
        if n_uniform > 0:
            parts.append(self.positives.sample(ctx.user, n_uniform))
        if n_pool:
            parts.append(self.semantic.pool(ctx.user, ctx.pos_item, n_pool))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def scores(self, query, item_emb, cand, ctx=None):
        """s(u, j) = e_u . e_j for each pair and candidate (``query`` B x d, ``cand`` B x M -> B x M); with the
        batch's ``ctx``, the guarded ones (:meth:`guarded_scores`)."""
        if ctx is None:
            return gathered_dots(item_emb, cand, query)
        return self.guarded_scores(ctx, query, item_emb, cand)

    def guarded_scores(self, ctx, query, item_emb, cand):
        """The scores (``query`` is the batch users' rows, ``query[b]`` user ``ctx.user[b]``'s) with the candidates
        the false-negative guards rule out set to -inf.

        Guards: the semantic ones (text too close to the positive or the user's history) and, with
        ``guard_above_positive``, a candidate the model scores above the positive. Where every candidate
        of a row is ruled out, the first (RecBole's uniform negative) is the one chosen.
        """
        scores = candidate_dots(item_emb, cand, query, ctx.user)
        reject = None
        if self.semantic is not None:
            reject = self.semantic.rejects(ctx.user, ctx.pos_item, cand)
        if self.guard_above_positive:
            above = scores > (query * item_emb[ctx.pos_item]).sum(-1, keepdim=True)
            reject = above if reject is None else reject | above
        if reject is None:
            return scores
        return scores.masked_fill(reject, float("-inf"))


def take(cand, index):
    """``cand[b, index[b]]`` for each row b."""
    return cand.gather(1, index.reshape(-1, 1)).squeeze(1)

"""Samplers that pick among M uniform candidates scored with the batch's propagated embeddings.

Shared by DNS, MixGCF and AHNS: the candidate pool (never a training positive of the user) and
the inner-product score that every backbone of the plugin ranks with. Scoring reuses the
embeddings the loss already propagated (the :class:`SamplerContext`), so a hard sampler costs
one gather of B x M x d per batch, not another pass over the graph.
"""
import torch

from recbole_hnlm.sampler.base import NegativeSampler, TrainPositives


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
        neg_args = config["train_neg_sample_args"]
        if neg_args.get("dynamic", False):
            raise ValueError(
                f"neg_sampler {self.name!r} chooses hard negatives itself; RecBole's "
                f"train_neg_sample_args.dynamic must be False (use one or the other)"
            )
        self.positives = TrainPositives(dataset)

    def to(self, device):
        self.positives.to(device)
        return self

    def candidates(self, ctx):
        """B x M item ids that are not training positives of ``ctx.user``."""
        if ctx.neg_item is None:
            return self.positives.sample(ctx.user, self.n_candidates)
        first = ctx.neg_item.reshape(-1, 1)
        if self.n_candidates == 1:
            return first
        return torch.cat([first, self.positives.sample(ctx.user, self.n_candidates - 1)], dim=1)


# Scoring all items and picking the candidates (one B x n_items matmul) beats gathering B x M x d
# candidate embeddings while n_items is small against M (measured on CPU: about 3x faster at
# n_items = 1.7k, M = 64; 3x slower at 12k).
FULL_SCORE_RATIO = 32


def candidate_scores(user_e, item_all, cand):
    """s(u, j) = e_u . e_j for each pair and candidate: ``user_e`` B x d, ``cand`` B x M -> B x M."""
    if len(item_all) <= FULL_SCORE_RATIO * cand.shape[1]:
        return (user_e @ item_all.T).gather(1, cand)
    return torch.bmm(item_all[cand], user_e.unsqueeze(-1)).squeeze(-1)


def take(cand, index):
    """``cand[b, index[b]]`` for each row b."""
    return cand.gather(1, index.reshape(-1, 1)).squeeze(1)

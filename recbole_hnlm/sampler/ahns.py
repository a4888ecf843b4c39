"""AHNS: adaptive hardness negative sampling (Lai et al., AAAI 2024).

Reference:
    Riwei Lai et al. "Adaptive Hardness Negative Sampling for Collaborative Filtering." in AAAI 2024.

Reference code:
    https://github.com/Riwei-HEU/AHNS

The hardness of the negative follows the positive's score: for each (u, i+) and M uniform
candidates, AHNS trains on the candidate whose score is nearest to the target

    j* = argmin_m | s(u, j_m) - beta * (s(u, i+) + alpha) ** (p + 1) |,   s(u, j) = e_u . e_j,

so a positive that is already scored high gets an easier negative when p + 1 < 0 (the paper's
criterion that the negative's hardness should be adaptive and decrease as s(u, i+) grows).
Official defaults (Riwei-HEU/AHNS): M = 32, alpha = 1.0, beta = 0.1, p = -2.
Config: ``ahns_m``, ``ahns_alpha``, ``ahns_beta``, ``ahns_p``.

With a non-integer p + 1 and s(u, i+) + alpha < 0 the target is undefined (NaN); such rows fall
back to the first candidate (RecBole's uniform negative) rather than an arbitrary index.
"""
import torch

from recbole_hnlm.sampler.base import register_sampler
from recbole_hnlm.sampler.candidates import CandidateSampler, take


@register_sampler
class AHNS(CandidateSampler):
    name = "ahns"
    m_key = "ahns_m"

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.alpha = float(config["ahns_alpha"])
        self.beta = float(config["ahns_beta"])
        self.p = float(config["ahns_p"])

    def target(self, pos_scores):
        """beta * (s(u, i+) + alpha) ** (p + 1), the score the negative should have."""
        return self.beta * torch.pow(pos_scores + self.alpha, self.p + 1)

    def choose(self, user_e, pos_e, item_all, cand, ctx=None):
        """Index (into each row of ``cand``) of the candidate nearest the target score.

        With the batch's ``ctx``, the false-negative guards apply (a ruled-out candidate scores -inf: gap inf).
        """
        with torch.no_grad():
            scores = self.scores(user_e, item_all, cand, ctx)
            target = self.target((user_e * pos_e).sum(dim=1, keepdim=True))
            gap = torch.nan_to_num((scores - target).abs(), nan=float("inf"))
            index = gap.argmin(dim=1)
            return torch.where(torch.isfinite(target.squeeze(1)), index, torch.zeros_like(index))

    def __call__(self, ctx):
        cand = self.candidates(ctx)
        index = self.choose(ctx.user_all[ctx.user], ctx.item_all[ctx.pos_item], ctx.item_all, cand, ctx)
        chosen = take(cand, index)
        return ctx.item_all[chosen], chosen

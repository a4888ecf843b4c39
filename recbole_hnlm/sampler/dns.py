"""DNS: dynamic negative sampling (Zhang et al., SIGIR 2013), and DNS(M, N) (Shi et al., WWW 2023).

Reference:
    Weinan Zhang et al. "Optimizing Top-N Collaborative Filtering via Dynamic Negative Item Sampling." in SIGIR 2013.
    Wentao Shi et al. "On the Theories Behind Hard Negative Sampling for Recommendation." in WWW 2023.

Reference code: none; implemented from the papers' equations.

DNS draws M uniform candidates j_1..j_M for each (u, i+) and trains on the hardest,

    j* = argmax_m s(u, j_m),   s(u, j) = e_u . e_j   (pooled embeddings of the current model).

DNS(M, N), as read here from Shi et al. ("On the Theories Behind Hard Negative Sampling for
Recommendation"): rank the M candidates by s(u, j) and draw the negative uniformly from the top N.
BPR with DNS(M, N) estimates the one-way partial AUC with FPR range beta = N / M, so N controls the
hardness (N = 1 is DNS, N = M is RNS). Config: ``dns_m`` (M), ``dns_n`` (N).

Unlike RecBole's ``train_neg_sample_args: {dynamic: True, candidate_num: M}``, which calls the
model's ``predict`` (another full propagation, in eval mode) for every training batch inside the
dataloader, the scores here come from the embeddings the loss has already propagated.
"""
import torch

from recbole_hnlm.sampler.base import register_sampler
from recbole_hnlm.sampler.candidates import CandidateSampler, take


@register_sampler
class DNS(CandidateSampler):
    name = "dns"
    m_key = "dns_m"

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.top_n = config["dns_n"]
        if not 1 <= self.top_n <= self.n_candidates:
            raise ValueError(f"dns_n must be in 1..dns_m={self.n_candidates}, got {config['dns_n']!r}")

    def choose(self, user_e, item_all, cand, ctx=None):
        """Index (into each row of ``cand``) of the chosen negative: one of the top ``dns_n`` scores.

        With the batch's ``ctx``, the false-negative guards apply (:meth:`CandidateSampler.guarded_scores`).
        """
        with torch.no_grad():
            scores = self.scores(user_e, item_all, cand, ctx)
            if self.top_n == 1:
                return scores.argmax(dim=1)
            top = scores.topk(self.top_n, dim=1).indices
            pick = torch.randint(0, self.top_n, (len(cand),), device=cand.device)
            return take(top, pick)

    def __call__(self, ctx):
        cand = self.candidates(ctx)
        chosen = take(cand, self.choose(ctx.user_all[ctx.user], ctx.item_all, cand, ctx))
        return ctx.item_all[chosen], chosen

"""MixGCF: synthesised hard negatives by positive and hop mixing (Huang et al., KDD 2021).

Reference:
    Tinglin Huang et al. "MixGCF: An Improved Training Method for Graph Neural Network-based Recommender
    Systems." in KDD 2021.

Reference code:
    https://github.com/huangtinglin/MixGCF

For each (u, i+) and M uniform candidates j_1..j_M, with per-layer embeddings e^(l) (l = 0..L):

* positive mixing (MixGCF Eq. 5): one alpha^(l) ~ U(0, 1) per pair and layer, shared by the candidates,
  e'^(l)_m = alpha^(l) e^(l)_{i+} + (1 - alpha^(l)) e^(l)_{j_m};
* hop mixing (MixGCF Eq. 6-7): per layer, keep the mixed candidate that the user scores highest,
  e^(l)_- = argmax_m  q^(l)_u . e'^(l)_m, then pool the L + 1 chosen layers as the backbone pools
  (mean for LightGCN / SGL, concatenation for NGCF): e_- = pool(e^(0)_-, ..., e^(L)_-).

The query q^(l)_u (``mixgcf_query``) is the user's layer-l embedding (``layer``, the paper's
f_Q(u, l) read literally) or the user's pooled embedding for every layer (``pooled``). The default
``auto`` does what the official code does: the pooled embedding where pooling keeps the layer size
(mean: LightGCN, SGL, MF), the layer-l embedding where it does not (concatenation: NGCF); the two
queries on ml-100k are compared in ``results/mixgcf_query.md``.
Since alpha^(l) < 1 is shared by the candidates,
q . e'_m = alpha q . e_{i+} + (1 - alpha) q . e_{j_m}, so the argmax over the mixed candidates is
the argmax over the candidates themselves: only the chosen candidate is mixed and kept in the
graph, which spares a B x M x d tensor per layer (the result is the same).

The item reported for a pair (for ``export_hard_negatives``) is the candidate chosen at the last
layer. The backbone regularises that candidate's ego embedding (the official code regularises the
layer-0 mixed vector). With MF there is one layer, so only positive mixing applies.
Official defaults (huangtinglin/MixGCF): M = ``n_negs`` = 64. Config: ``mixgcf_m``, ``mixgcf_query``.
"""
import torch

from recbole_hnlm.sampler.base import register_sampler
from recbole_hnlm.sampler.candidates import CandidateSampler, take


@register_sampler
class MixGCF(CandidateSampler):
    name = "mixgcf"
    m_key = "mixgcf_m"
    needs_layers = True

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.query = config["mixgcf_query"]

    def mix_layers(self, ctx, cand):
        """Per-layer negatives: (list of B x d_l mixed embeddings, list of B chosen ids, B x (L+1) alphas)."""
        n_layers = len(ctx.item_layers)
        alpha = torch.rand(len(cand), n_layers, 1, device=cand.device)
        mixed, chosen = [], []
        pooled = self.query == "pooled" or (self.query == "auto" and ctx.user_all.shape[-1] == ctx.user_layers[0].shape[-1])
        for layer, (users_l, items_l) in enumerate(zip(ctx.user_layers, ctx.item_layers)):
            query = ctx.user_all[ctx.user] if pooled else users_l[ctx.user]
            if query.shape[-1] != items_l.shape[-1]:
                raise ValueError(
                    f"mixgcf_query: pooled needs pooled and per-layer embeddings of one size "
                    f"({query.shape[-1]} vs {items_l.shape[-1]}); use mixgcf_query: layer with this backbone"
                )
            with torch.no_grad():
                pick = take(cand, self.guarded_scores(ctx, query, items_l, cand).argmax(dim=1))
            a = alpha[:, layer]
            mixed.append(a * items_l[ctx.pos_item] + (1.0 - a) * items_l[pick])
            chosen.append(pick)
        return mixed, chosen, alpha.squeeze(-1)

    def __call__(self, ctx):
        mixed, chosen, _ = self.mix_layers(ctx, self.candidates(ctx))
        return ctx.pool(mixed), chosen[-1]

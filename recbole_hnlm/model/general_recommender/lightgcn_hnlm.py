"""LightGCN_HNLM: LightGCN with semantic hard negatives (HNLM Eq. 6-10).

Reference:
    Chu Zhao, Enneng Yang, Yuting Liu, Jianzhe Zhao, Guibing Guo, Xingwei Wang. "Can LLM-Driven Hard Negative
    Sampling Empower Collaborative Filtering? Findings and Potentials." arXiv:2504.04726, 2025.
    Xiangnan He et al. "LightGCN: Simplifying and Powering Graph Convolution Network for Recommendation."
    in SIGIR 2020.

Reference code:
    https://github.com/user683/HNLMRec
    https://github.com/kuandeng/LightGCN
"""
import torch
from recbole.model.general_recommender.lightgcn import LightGCN

from recbole_hnlm.model.hnlm import HardNegativeMixin, split_layers


class LightGCN_HNLM(HardNegativeMixin, LightGCN):
    shared_properties = (*HardNegativeMixin.shared_properties, "hnlm_model.yaml")

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.cf_dim = self.latent_dim
        self.init_hard_negatives(config, dataset)

    def propagate_layers(self):
        layers = [self.get_ego_embeddings()]
        for _ in range(self.n_layers):
            layers.append(torch.sparse.mm(self.norm_adj_matrix, layers[-1]))
        return (*split_layers(layers, self.n_users, self.n_items), mean_pool)

    def pair_losses(self, user, pos_item, neg_item, u_e, pos_e, neg_e, sampled_neg_e):
        """HNLM Eq. 8: BPR on the (possibly mixed) negative ``neg_e``; LightGCN's L2 term on the ego embeddings."""
        mf_loss = self.mf_loss(torch.mul(u_e, pos_e).sum(dim=1), torch.mul(u_e, neg_e).sum(dim=1))
        reg_loss = self.reg_loss(
            self.user_embedding(user), self.item_embedding(pos_item), self.item_embedding(neg_item),
            require_pow=self.require_pow,
        )
        return mf_loss, self.reg_weight * reg_loss


def mean_pool(layers):
    """LightGCN / SGL pooling: the mean over layers."""
    return torch.stack(layers, dim=1).mean(dim=1)

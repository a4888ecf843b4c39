"""SGL_HNLM: SGL with semantic hard negatives (HNLM Eq. 6-10); SGL's own contrastive loss is kept.

Reference:
    Chu Zhao, Enneng Yang, Yuting Liu, Jianzhe Zhao, Guibing Guo, Xingwei Wang. "Can LLM-Driven Hard Negative
    Sampling Empower Collaborative Filtering? Findings and Potentials." arXiv:2504.04726, 2025.
    Jiancan Wu et al. "Self-supervised Graph Learning for Recommendation." in SIGIR 2021.

Reference code:
    https://github.com/user683/HNLMRec
    https://github.com/wujcan/SGL-Torch
"""
import torch
import torch.nn.functional as F
from recbole.model.general_recommender.sgl import SGL

from recbole_hnlm.model.general_recommender.lightgcn_hnlm import mean_pool
from recbole_hnlm.model.hnlm import HardNegativeMixin, split_layers


class SGL_HNLM(HardNegativeMixin, SGL):
    shared_properties = (*HardNegativeMixin.shared_properties, "hnlm_model.yaml")

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.cf_dim = self.embed_dim
        self.init_hard_negatives(config, dataset)

    def propagate(self):
        return self.forward(self.train_graph)

    def propagate_layers(self):
        layers = [torch.cat([self.user_embedding.weight, self.item_embedding.weight])]
        for _ in range(self.n_layers):
            layers.append(torch.sparse.mm(self.train_graph, layers[-1]))
        return (*split_layers(layers, self.n_users, self.n_items), mean_pool)

    def pair_losses(self, user, pos_item, neg_item, u_e, pos_e, neg_e, sampled_neg_e):
        """HNLM Eq. 8: BPR on the (possibly mixed) negative ``neg_e``; SGL's L2 term on the ego embeddings."""
        bpr = torch.sum(-F.logsigmoid((u_e * pos_e).sum(dim=1) - (u_e * neg_e).sum(dim=1)))
        reg = self.reg_loss(self.user_embedding(user), self.item_embedding(pos_item), self.item_embedding(neg_item))
        return bpr, reg * self.reg_weight

    def extra_losses(self, interaction, ctx, chosen):
        user_sub1, item_sub1 = self.forward(self.sub_graph1)
        user_sub2, item_sub2 = self.forward(self.sub_graph2)
        return (self.calc_ssl_loss(
            interaction[self.USER_ID], interaction[self.ITEM_ID], user_sub1, user_sub2, item_sub1, item_sub2
        ),)

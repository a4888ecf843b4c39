"""MF_HNLM: matrix factorisation (RecBole's BPR) with semantic hard negatives (HNLM Eq. 6-10).

Reference:
    Chu Zhao, Enneng Yang, Yuting Liu, Jianzhe Zhao, Guibing Guo, Xingwei Wang. "Can LLM-Driven Hard Negative
    Sampling Empower Collaborative Filtering? Findings and Potentials." arXiv:2504.04726, 2025.
    Steffen Rendle et al. "BPR: Bayesian Personalized Ranking from Implicit Feedback." in UAI 2009.

Reference code:
    https://github.com/user683/HNLMRec
"""
from recbole.model.general_recommender.bpr import BPR

from recbole_hnlm.model.hnlm import HardNegativeMixin


class MF_HNLM(HardNegativeMixin, BPR):
    shared_properties = (*HardNegativeMixin.shared_properties, "hnlm_model.yaml")

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.cf_dim = self.embedding_size
        self.init_hard_negatives(config, dataset)

    def propagate(self):
        return self.user_embedding.weight, self.item_embedding.weight

    def propagate_layers(self):
        return [self.user_embedding.weight], [self.item_embedding.weight], first_layer

    def pair_losses(self, user, pos_item, neg_item, u_e, pos_e, neg_e, sampled_neg_e):
        """HNLM Eq. 8: BPR on the (possibly mixed) negative ``neg_e``; RecBole's BPR model has no L2 term."""
        return (self.loss((u_e * pos_e).sum(dim=1), (u_e * neg_e).sum(dim=1)),)


def first_layer(layers):
    return layers[0]

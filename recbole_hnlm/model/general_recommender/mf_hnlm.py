"""MF_HNLM: matrix factorisation (RecBole's BPR) with semantic hard negatives (Eq. 6-10)."""
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
        return (self.loss((u_e * pos_e).sum(dim=1), (u_e * neg_e).sum(dim=1)),)


def first_layer(layers):
    return layers[0]

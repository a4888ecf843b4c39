"""NGCF_HNLM: NGCF with semantic hard negatives (HNLM Eq. 6-10).

Reference:
    Chu Zhao, Enneng Yang, Yuting Liu, Jianzhe Zhao, Guibing Guo, Xingwei Wang. "Can LLM-Driven Hard Negative
    Sampling Empower Collaborative Filtering? Findings and Potentials." arXiv:2504.04726, 2025.
    Xiang Wang et al. "Neural Graph Collaborative Filtering." in SIGIR 2019.

Reference code:
    https://github.com/user683/HNLMRec
    https://github.com/xiangwang1223/neural_graph_collaborative_filtering
"""
import torch
import torch.nn.functional as F
from recbole.model.general_recommender.ngcf import NGCF
from torch import nn

from recbole_hnlm.model.hnlm import HardNegativeMixin, split_layers


class NGCF_HNLM(HardNegativeMixin, NGCF):
    shared_properties = (*HardNegativeMixin.shared_properties, "hnlm_model.yaml")

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.cf_dim = self.embedding_size + sum(self.hidden_size_list[1:])
        self.init_hard_negatives(config, dataset)

    def propagate_layers(self):
        adj = self.sparse_dropout(self.norm_adj_matrix) if self.node_dropout != 0 else self.norm_adj_matrix
        layers = [self.get_ego_embeddings()]
        for gnn in self.GNNlayers:
            x = nn.LeakyReLU(negative_slope=0.2)(gnn(adj, self.eye_matrix, layers[-1]))
            layers.append(F.normalize(self.emb_dropout(x), p=2, dim=1))
        return (*split_layers(layers, self.n_users, self.n_items), concat_pool)

    def pair_losses(self, user, pos_item, neg_item, u_e, pos_e, neg_e, sampled_neg_e):
        """HNLM Eq. 8: BPR on the (possibly mixed) negative ``neg_e``; NGCF's L2 term on u_e, pos_e, sampled_neg_e."""
        mf_loss = self.mf_loss((u_e * pos_e).sum(dim=1), (u_e * neg_e).sum(dim=1))
        return mf_loss, self.reg_weight * self.reg_loss(u_e, pos_e, sampled_neg_e)


def concat_pool(layers):
    """NGCF pooling: layers concatenated."""
    return torch.cat(layers, dim=1)

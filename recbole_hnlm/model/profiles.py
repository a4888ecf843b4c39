"""User and item profile embeddings for the LLM-enhanced baselines (RLMRec, KAR).

Reference:
    Xubin Ren et al. "Representation Learning with Large Language Models for Recommendation." in WWW 2024.
    Yunjia Xi et al. "Towards Open-World Recommendation with Knowledge Augmentation from Large Language
    Models." in RecSys 2024.

Reference code:
    https://github.com/HKUDS/RLMRec
    https://github.com/YunjiaXi/Open-World-Knowledge-Augmented-Recommendation

Item profiles are a feature set of item granularity (``profile_item_feature``, default the built-in
``item-text``: each item's text embedded by the text embedder, built by
:mod:`recbole_hnlm.features` when absent or stale). User profiles are a feature set of user
granularity (``profile_user_feature``) as the LLM module exports them; where none is given, the
documented stand-in is the mean of the item profiles of the user's *training* items (nothing from
validation or test is looked at).
"""
import torch

from recbole_hnlm.features import open_table


def mean_item_profile(dataset, item_table):
    """n_users x d: each user's mean item profile over their training interactions (zeros if none)."""
    users = torch.as_tensor(dataset.inter_feat[dataset.uid_field]).long()
    items = torch.as_tensor(dataset.inter_feat[dataset.iid_field]).long()
    total = torch.zeros(dataset.user_num, item_table.shape[1]).index_add_(0, users, item_table[items])
    count = torch.zeros(dataset.user_num).index_add_(0, users, torch.ones(len(users)))
    return total / count.clamp(min=1).unsqueeze(1)


def profile_tables(config, dataset):
    """(user profiles n_users x d, item profiles n_items x d), float32 tensors indexed by internal ids."""
    items = open_table(config, config["profile_item_feature"], dataset, granularity="item")
    user_name = config["profile_user_feature"]
    if user_name:
        users = open_table(config, user_name, dataset, granularity="user", dim=items.dim)
        return users.table.float().cpu(), items.table.float().cpu()
    return mean_item_profile(dataset, items.table.float().cpu()), items.table.float().cpu()

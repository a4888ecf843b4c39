"""Negative samplers that run inside a model's loss, on the embeddings already propagated for the batch.

Reference:
    Chu Zhao, Enneng Yang, Yuting Liu, Jianzhe Zhao, Guibing Guo, Xingwei Wang. "Can LLM-Driven Hard Negative
    Sampling Empower Collaborative Filtering? Findings and Potentials." arXiv:2504.04726, 2025.

Reference code:
    https://github.com/user683/HNLMRec

A sampler is called once per batch with a :class:`SamplerContext` and returns the negative's
CF embedding (pooled like the backbone's output) and, for each pair, the item it chose (for a
synthesised negative such as MixGCF's, the candidate it was built from), so that any sampler can
report its hard negatives (the fine-tuning stage uses them as labels).
"""
from dataclasses import dataclass
from typing import Callable, List, Optional

import torch

from recbole_hnlm.codes import CodeSet


@dataclass
class SamplerContext:
    user: torch.Tensor                 # B
    pos_item: torch.Tensor             # B
    neg_item: torch.Tensor             # B, RecBole's uniform sample (RNS)
    user_all: torch.Tensor             # n_users x d, pooled
    item_all: torch.Tensor             # n_items x d, pooled
    user_layers: Optional[List[torch.Tensor]] = None   # per layer, n_users x d_l (samplers with needs_layers)
    item_layers: Optional[List[torch.Tensor]] = None
    pool: Optional[Callable] = None    # list of per-layer tensors -> pooled tensor, as the backbone pools
    masked_nodes: Optional[torch.Tensor] = None  # nodes masked before this propagation (RLMRec-Gen)


class TrainPositives:
    """Membership test for the (user, item) interactions of one or more datasets (by default, a training split),
    and uniform candidates that avoid them."""

    def __init__(self, dataset, *more):
        self.n_items = dataset.item_num
        codes = [torch.as_tensor(d.inter_feat[d.uid_field]).long() * self.n_items
                 + torch.as_tensor(d.inter_feat[d.iid_field]).long() for d in (dataset, *more)]
        self.codes = CodeSet(torch.cat(codes), dataset.user_num * self.n_items)

    def to(self, device):
        self.codes = self.codes.to(device)
        return self

    def contains(self, users, items):
        """Boolean tensor shaped like ``items``: is (user, item) a training interaction."""
        codes = users.reshape(-1, *([1] * (items.dim() - 1))) * self.n_items + items
        return self.codes.contains(codes)

    def sample(self, users, m, generator=None, max_rounds=20):
        """B x m item ids drawn uniformly from items 1..n_items-1 that are not the user's training positives.

        Rejection sampling: only the draws that hit a positive are redrawn and checked again; what is
        left after ``max_rounds`` (users who own most items) is drawn from the user's complement exactly.
        """
        device = users.device
        cand = torch.randint(1, self.n_items, (len(users), m), device=device, generator=generator)
        rows, cols = self.contains(users, cand).nonzero(as_tuple=True)
        for _ in range(max_rounds):
            if len(rows) == 0:
                return cand
            redraw = torch.randint(1, self.n_items, (len(rows),), device=device, generator=generator)
            cand[rows, cols] = redraw
            still = self.contains(users[rows], redraw)
            rows, cols = rows[still], cols[still]
        if len(rows):
            cand[rows, cols] = self._sample_complement(users[rows], generator)
        return cand

    def _sample_complement(self, users, generator=None):
        """One item per entry of ``users``, uniform over the items that are not its training positives."""
        items = torch.arange(1, self.n_items, device=users.device)
        allowed = ~self.contains(users, items.expand(len(users), -1))
        empty = ~allowed.any(dim=1)
        if bool(empty.any()):
            raise RuntimeError(f"user {int(users[empty][0])} has every item as a training positive: no negative exists")
        return items[torch.multinomial(allowed.float(), 1, generator=generator).squeeze(1)]


class NegativeSampler:
    """RNS: the negative RecBole sampled uniformly (``train_neg_sample_args``)."""

    name = "rns"
    needs_layers = False

    def __init__(self, config, dataset):
        self.config = config

    def to(self, device):
        return self

    def __call__(self, ctx: SamplerContext):
        return ctx.item_all[ctx.neg_item], ctx.neg_item


SAMPLERS = {"rns": NegativeSampler}


def register_sampler(cls):
    """Class decorator: make ``cls`` available as ``neg_sampler: <cls.name>``."""
    SAMPLERS[cls.name] = cls
    return cls


def build_sampler(config, dataset):
    name = config["neg_sampler"]
    if name not in SAMPLERS:
        raise ValueError(f"neg_sampler {name!r} is unknown; choose one of {sorted(SAMPLERS)}")
    return SAMPLERS[name](config, dataset)



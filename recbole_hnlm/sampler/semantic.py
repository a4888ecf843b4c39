"""Text space inside the candidate samplers (DNS, MixGCF, AHNS): a semantic candidate pool and false-negative guards.

Reference:
    Qianru Zhao et al. "Can LLM-Driven Hard Negative Sampling Empower Collaborative Filtering? Findings and
    Potentials." 2025 (negatives chosen during training are its future work).

Reference code: https://github.com/user683/HNLMRec (no such sampler there; implemented from the README's
"Semantic candidates" section).

The candidates stay real items, scored by the current CF model each batch; the item text (the
built-in ``item-text`` set or any item feature set, ``hnlm_anchor_feature``) decides:

* the pool (``semantic_pool_k`` > 0): ``semantic_pool_share`` of the M candidates come from the
  positive's ``semantic_pool_k`` text-nearest items (after skipping ``semantic_pool_skip``) that the user
  never interacted with in training; ``semantic_pool_order: far_from_user`` takes, among those, the
  ones farthest from the user's profile (the mean text of their training items): similar to what
  they bought, unlike what they like;
* the guards: a candidate whose text cosine to the positive exceeds ``semantic_guard_cos`` is never
  chosen (a sequel, another edition); with ``semantic_guard_history`` neither is one that close to any
  of the user's training items (among each item's ``semantic_guard_k`` text neighbours). Where more than
  ``semantic_guard_share`` of the item pairs exceed that cosine (a narrow text space, such as a fine-tuned
  encoder's), the guard's cosine rises to the one that this share of pairs exceeds.

``semantic_negatives: False`` turns all of this off (and HNLM's mixing, HNLM Eq. 7).
"""
import logging

import torch
import torch.nn.functional as F

from recbole_hnlm.codes import CodeSet
from recbole_hnlm.features import open_table


def uses_semantic_candidates(config):
    """Whether a config asks the candidate samplers for the text space."""
    return bool(config["semantic_negatives"]) and bool(
        config["semantic_pool_k"] or config["semantic_guard_cos"] is not None
    )


def text_neighbours(text, k, chunk=2048):
    """(n_items x k item ids, their cosines): each item's k text-nearest other items, nearest first.

    ``text`` is L2-normalised, row 0 the padding item (never a neighbour, its own row is zeros).
    """
    n = len(text)
    k = min(k, n - 2)
    ids = torch.zeros(n, k, dtype=torch.long)
    sims = torch.zeros(n, k)
    for start in range(0, n, chunk):
        block = text[start:start + chunk] @ text.T
        rows = torch.arange(start, min(start + chunk, n))
        block[torch.arange(len(rows)), rows] = float("-inf")  # not its own neighbour
        block[:, 0] = float("-inf")
        top = block.topk(k, dim=1)
        ids[start:start + chunk], sims[start:start + chunk] = top.indices, top.values
    return ids, sims


# Floats gathered at a time by ``gathered_dots``: a whole B x M x d gather falls out of cache and runs several
# times slower (benchmarks/probes/batch_cost.py).
GATHER_BUDGET = 1 << 20


def gathered_dots(table, index, query):
    """B x M dot products ``table[index[b, m]] . query[b]``, gathered a block of rows at a time."""
    out = query.new_empty(index.shape)
    table = table.contiguous()  # a per-layer view of stacked embeddings gathers several times slower
    rows = max(1, GATHER_BUDGET // max(1, index.shape[1] * table.shape[1]))
    for start in range(0, len(index), rows):
        block = slice(start, start + rows)
        out[block] = (F.embedding(index[block], table) @ query[block].unsqueeze(2)).squeeze(2)
    return out


def close_pairs(text, threshold, limit, chunk=1024):
    """(:class:`~recbole_hnlm.codes.CodeSet` of codes ``a * n + b`` of the pairs of distinct items whose text cosine
    exceeds ``threshold``, or None where there are more than ``limit`` of them (then the cosines are computed per
    batch instead); the share of the n x (n - 1) pairs that exceed it)."""
    n, parts, total = len(text), [], 0
    for start in range(0, n, chunk):
        above = off_diagonal(text[start:start + chunk] @ text.T, start) > threshold
        total += int(above.sum())
        if total <= limit:
            a, b = above.nonzero(as_tuple=True)
            parts.append((a + start) * n + b)
    share = total / max(1, n * (n - 1))
    return (CodeSet(torch.cat(parts), n * n) if total <= limit else None), share


def pair_quantile(text, share, chunk=1024):
    """The text cosine that ``share`` of the pairs of distinct items exceed (the k-th largest of their cosines)."""
    n = len(text)
    k = max(1, round(share * n * (n - 1)))
    top = text.new_empty(0)
    for start in range(0, n, chunk):
        block = off_diagonal(text[start:start + chunk] @ text.T, start).flatten()
        top = torch.cat([top, block.topk(min(k, len(block))).values])
        top = top.topk(min(k, len(top))).values
    return float(top[-1])


def off_diagonal(block, start):
    """Rows ``start..`` of an items x items product with each item's cosine to itself set to -inf."""
    rows = torch.arange(len(block))
    block[rows, rows + start] = float("-inf")
    return block


# Precomputed close pairs replace the per-batch B x M x d gather of item texts (the guard's main cost)
# while there are at most this many of them per item on average.
CLOSE_PAIRS_PER_ITEM = 64
# Above this share of item pairs closer than semantic_guard_cos, the guard rules out most candidates.
GUARD_WARN_SHARE = 0.05


class SemanticCandidates:
    """The text side of a candidate sampler, for one run's dataset (internal ids)."""

    def __init__(self, config, dataset, positives):
        table = open_table(config, config["hnlm_anchor_feature"], dataset, granularity="item")
        self.text = F.normalize(table.table.float(), dim=-1)
        self.positives = positives
        self.guard_cos = config["semantic_guard_cos"]
        self.pool_k, self.pool_skip = config["semantic_pool_k"], config["semantic_pool_skip"]
        self.pool_share, self.pool_order = config["semantic_pool_share"], config["semantic_pool_order"]
        if self.pool_order not in ("nearest", "far_from_user"):
            raise ValueError(f"semantic_pool_order must be 'nearest' or 'far_from_user', got {self.pool_order!r}")
        users = torch.as_tensor(dataset.inter_feat[dataset.uid_field]).long()
        items = torch.as_tensor(dataset.inter_feat[dataset.iid_field]).long()
        self.n_items = dataset.item_num
        self.close = None
        if self.guard_cos is not None:
            self.close, share = close_pairs(self.text, self.guard_cos, CLOSE_PAIRS_PER_ITEM * self.n_items)
            self.raise_guard(config["semantic_guard_share"], share, table.directory)
        history = bool(config["semantic_guard_history"]) and self.guard_cos is not None
        depth = max(self.pool_k + self.pool_skip if self.pool_k else 0, config["semantic_guard_k"] if history else 0)
        self.neighbours = self.neighbour_sims = None
        if depth:
            self.neighbours, self.neighbour_sims = text_neighbours(self.text, depth)
        self.too_close = None
        if history:  # (user, item) codes of items too close to one of the user's training items
            k = config["semantic_guard_k"]
            close = self.neighbour_sims[items, :k] > self.guard_cos
            codes = users.unsqueeze(1) * self.n_items + self.neighbours[items, :k]
            self.too_close = CodeSet(codes[close], dataset.user_num * self.n_items)
        self.user_profile = None
        if self.pool_order == "far_from_user":
            total = torch.zeros(dataset.user_num, self.text.shape[1]).index_add_(0, users, self.text[items])
            self.user_profile = F.normalize(total, dim=-1)

    def raise_guard(self, cap, share, directory):
        """Where more than ``cap`` of the item pairs exceed ``semantic_guard_cos``, raise the guard's cosine to the
        one that ``cap`` of them exceed (and log it); with no cap (1), warn when the guard rules out most pairs."""
        log = logging.getLogger()
        if share > cap:
            raised = pair_quantile(self.text, cap)
            log.info(
                f"semantic_guard_cos={self.guard_cos:g}: {share:.2%} of item pairs in {directory} have a text cosine "
                f"above it (a narrow text space, e.g. a fine-tuned encoder); the text guard uses {raised:.4f} "
                f"instead, which {cap:.2%} of pairs exceed (semantic_guard_share)")
            self.guard_cos = raised
            self.close, _ = close_pairs(self.text, raised, CLOSE_PAIRS_PER_ITEM * self.n_items)
        elif share > GUARD_WARN_SHARE:
            log.warning(
                f"semantic_guard_cos={self.guard_cos:g}: {share:.0%} of item pairs in {directory} have a text cosine "
                f"above it, so the text guard rules out most candidates and the sampler falls back to RecBole's "
                f"uniform negative; the text space is narrow (a fine-tuned encoder?): raise semantic_guard_cos, "
                f"lower semantic_guard_share, or set semantic_guard_cos to ~")

    def to(self, device):
        for name in ("text", "neighbours", "too_close", "close", "user_profile"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name).to(device))
        return self

    def pool_size(self, m):
        """How many of ``m`` candidates come from the semantic pool."""
        return int(round(self.pool_share * m)) if self.pool_k else 0

    def pool(self, user, pos_item, n):
        """B x n candidates from the positive's text neighbourhood that ``user`` never interacted with in training.

        Where fewer than ``n`` such neighbours exist the row is filled with uniform draws.
        """
        near = self.neighbours[pos_item, self.pool_skip:self.pool_skip + self.pool_k]  # B x K
        unseen = ~self.positives.contains(user, near)
        if self.pool_order == "far_from_user":
            closeness = gathered_dots(self.text, near, self.user_profile[user])
            rank = closeness.masked_fill(~unseen, float("inf"))
        else:
            rank = torch.rand(near.shape, device=near.device).masked_fill(~unseen, float("inf"))
        order = rank.argsort(dim=1)[:, :n]
        picked = near.gather(1, order)
        ok = unseen.gather(1, order)
        if not bool(ok.all()):
            fill = self.positives.sample(user, picked.shape[1])
            picked = torch.where(ok, picked, fill)
        if picked.shape[1] < n:
            picked = torch.cat([picked, self.positives.sample(user, n - picked.shape[1])], dim=1)
        return picked

    def rejects(self, user, pos_item, cand):
        """B x M: candidates the guards rule out (likely false negatives)."""
        reject = torch.zeros_like(cand, dtype=torch.bool)
        if self.guard_cos is None:
            return reject
        if self.close is not None:
            reject |= self.close.contains(pos_item.unsqueeze(1) * len(self.text) + cand)
        else:
            reject |= gathered_dots(self.text, cand, self.text[pos_item]) > self.guard_cos
        if self.too_close is not None:
            reject |= self.too_close.contains(user.unsqueeze(1) * self.n_items + cand)
        return reject

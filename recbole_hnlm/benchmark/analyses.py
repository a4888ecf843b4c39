"""In-run measurements of a benchmark cell, and the pure functions behind them.

Pure functions (tested on hand-computed cases):

* :func:`popularity_groups`: items split by training count into unpopular / normal / popular;
* :func:`ranking_metrics`: Recall@K and NDCG@K, RecBole's definitions, optionally restricted to
  a group of items;
* :func:`false_negative_flags`: which negatives are within cosine ``threshold`` of one of the
  user's test items (false hard negatives, Fig. 6 of the paper).

Listeners of the trainer's per-epoch record (:class:`recbole_hnlm.trainer.RunListener`, attached
by :mod:`recbole_hnlm.benchmark.runner`; the record itself, loss, seconds and validation per epoch,
is in every run's result):

* :class:`EpochEcho`: one progress line per epoch;
* :class:`NegativeLog`: the negatives the model trained on, batch by batch, and at the end of each
  epoch the share of false hard negatives under the current model's embeddings;
* :func:`popularity_metrics`: per-group metrics of the trained model on the test split (Fig. 5b);
* :class:`PeakRSS`: peak resident memory while a block runs.
"""
import os
import threading
import time

import numpy as np
import torch

from recbole_hnlm.codes import find_codes
from recbole_hnlm.trainer import RunListener

GROUPS = ("unpopular", "normal", "popular")


# ----- popularity groups --------------------------------------------------------------------------
def popularity_groups(train_counts, unpopular=0.8, popular=0.05):
    """Group label of each item from its training count.

    ``train_counts[i]`` is item i's number of training interactions (index 0, RecBole's padding,
    is ignored and labelled ``""``). Items are ranked by count, most interacted first, ties by
    item id (lower first); the first ``round(popular * n)`` are ``popular``, the last
    ``round(unpopular * n)`` are ``unpopular`` (the least interacted), the rest ``normal``.
    Returns an array of strings, one per item id.
    """
    counts = np.asarray(train_counts)
    n = len(counts) - 1
    if n <= 0:
        raise ValueError("popularity_groups needs at least one item besides the padding id 0")
    if not (0 <= unpopular <= 1 and 0 <= popular <= 1 and unpopular + popular <= 1):
        raise ValueError(f"group shares must be in [0, 1] and sum to at most 1, got {unpopular}, {popular}")
    ids = np.arange(1, n + 1)
    order = ids[np.lexsort((ids, -counts[1:]))]  # by count descending, then id ascending
    n_pop = int(round(popular * n))
    n_unpop = int(round(unpopular * n))
    labels = np.full(n + 1, "normal", dtype=object)
    labels[0] = ""
    labels[order[:n_pop]] = "popular"
    if n_unpop:
        labels[order[n - n_unpop:]] = "unpopular"
    return labels


def ranking_metrics(topk_items, positives, ks, item_mask=None):
    """Recall@K and NDCG@K averaged over users, as RecBole computes them.

    ``topk_items``: users x K array of item ids, best first (K >= max(ks)).
    ``positives``: per user, the array of its test items.
    ``item_mask``: optional boolean array over item ids; only test items in the mask count as
    relevant, and users with no such test item are left out (per-group metrics).
    Recall@K = hits / |relevant|; NDCG@K = sum over hits of 1 / log2(rank + 1) divided by the ideal
    DCG of min(|relevant|, K) hits. Returns ``({"recall@K": ..., "ndcg@K": ...}, n_users)``;
    the metrics are NaN when no user is left.
    """
    topk_items = np.asarray(topk_items)
    out = {f"{m}@{k}": [] for k in ks for m in ("recall", "ndcg")}
    discount = 1.0 / np.log2(np.arange(2, topk_items.shape[1] + 2))
    n_users = 0
    for row, pos in zip(topk_items, positives):
        pos = np.asarray(pos)
        if item_mask is not None:
            pos = pos[np.asarray(item_mask)[pos]]
        if len(pos) == 0:
            continue
        n_users += 1
        hit = np.isin(row, pos)
        for k in ks:
            h = hit[:k]
            out[f"recall@{k}"].append(h.sum() / len(pos))
            ideal = discount[: min(len(pos), k)].sum()
            out[f"ndcg@{k}"].append((discount[:k] * h).sum() / ideal)
    return {m: (float(np.mean(v)) if v else float("nan")) for m, v in out.items()}, n_users


def false_negative_flags(item_emb, users, negatives, test_items, threshold=0.99):
    """For each (user, negative) pair, whether the negative is a false hard negative.

    A negative is false when its cosine similarity to at least one of the user's test items is
    above ``threshold`` (with identical items at similarity 1). ``item_emb``: items x d tensor;
    ``users``, ``negatives``: equal-length 1-d tensors; ``test_items``: per user id, a tensor of its
    test item ids (or None). Returns ``(flags, evaluable)``: boolean tensors over the pairs; pairs
    of users without test items are not evaluable (and never flagged).
    """
    users = torch.as_tensor(users).long().reshape(-1)
    negatives = torch.as_tensor(negatives).long().reshape(-1)
    emb = torch.nn.functional.normalize(torch.as_tensor(item_emb).float(), dim=1)
    counts = torch.tensor([0 if t is None else len(t) for t in test_items], dtype=torch.long)
    flat = [torch.as_tensor(t).long() for t in test_items if t is not None and len(t)]
    flat = torch.cat(flat) if flat else torch.zeros(0, dtype=torch.long)
    offsets = torch.zeros(len(counts) + 1, dtype=torch.long)
    offsets[1:] = torch.cumsum(counts, 0)
    n_test = counts[users]
    evaluable = n_test > 0
    flags = torch.zeros(len(users), dtype=torch.bool)
    if not bool(evaluable.any()):
        return flags, evaluable
    pair_idx = torch.repeat_interleave(torch.arange(len(users)), n_test)
    starts = torch.repeat_interleave(offsets[users], n_test)
    within = torch.arange(len(pair_idx)) - torch.repeat_interleave(torch.cumsum(n_test, 0) - n_test, n_test)
    test_of_pair = flat[starts + within]
    sims = (emb[negatives[pair_idx]] * emb[test_of_pair]).sum(dim=1)
    hit = (sims > threshold) | (negatives[pair_idx] == test_of_pair)
    flags.index_put_((pair_idx[hit],), torch.ones(int(hit.sum()), dtype=torch.bool))
    return flags, evaluable


# ----- model helpers ------------------------------------------------------------------------------
@torch.no_grad()
def item_embeddings(model):
    """The model's current pooled item embeddings (items x d), or ``(None, why)``.

    Tries the plugin's ``propagate()``, then a ``forward()`` without arguments that returns
    (users, items) as RecBole's graph models do, then an ``item_embedding`` table (MF).
    Returns ``(tensor, source)``; the model's train/eval mode is restored.
    """
    was_training = model.training
    model.eval()
    try:
        if hasattr(model, "propagate"):
            return model.propagate()[1].detach(), "propagate"
        try:
            out = model.forward()
            if isinstance(out, tuple) and len(out) == 2 and torch.is_tensor(out[1]):
                return out[1].detach(), "forward"
        except TypeError:
            pass
        table = getattr(model, "item_embedding", None)
        if isinstance(table, torch.nn.Embedding):
            return table.weight.detach(), "item_embedding"
        return None, "no item embeddings found"
    finally:
        model.train(was_training)


@torch.no_grad()
def full_sort_topk(model, eval_data, k):
    """Top-``k`` items per user of a full-sort evaluation loader, exactly as RecBole ranks them.

    History items (training, and for test also validation) are masked as in
    ``Trainer._full_sort_batch_eval``. Returns ``(topk, positives)``: a users x k array and, per
    row, the user's positive items of that split.
    """
    model.eval()
    n_items = eval_data._dataset.item_num
    tops, positives = [], []
    for interaction, history_index, positive_u, positive_i in eval_data:
        scores = model.full_sort_predict(interaction.to(model.device)).view(-1, n_items)
        scores[:, 0] = -np.inf
        if history_index is not None:
            scores[history_index] = -np.inf
        tops.append(torch.topk(scores, k, dim=-1).indices.cpu().numpy())
        pu, pi = positive_u.cpu().numpy(), positive_i.cpu().numpy()
        order = np.argsort(pu, kind="stable")
        bounds = np.searchsorted(pu[order], np.arange(len(scores) + 1))
        positives += [pi[order[bounds[r]:bounds[r + 1]]] for r in range(len(scores))]
    return (np.concatenate(tops) if tops else np.zeros((0, k), dtype=np.int64)), positives


def train_item_counts(train_dataset):
    """Number of training interactions of each item id (index 0 is the padding)."""
    items = np.asarray(train_dataset.inter_feat[train_dataset.iid_field].numpy(), dtype=np.int64)
    return np.bincount(items, minlength=train_dataset.item_num)


def popularity_metrics(model, train_dataset, test_data, ks, unpopular=0.8, popular=0.05):
    """Test Recall/NDCG@K per popularity group (and ``all``), from the model's full ranking.

    Groups come from the training counts of ``train_dataset`` (the split the model was trained
    on). ``all`` equals RecBole's own test metrics; it is kept as a check.
    """
    labels = popularity_groups(train_item_counts(train_dataset), unpopular, popular)
    topk, positives = full_sort_topk(model, test_data, max(ks))
    out = {}
    for group in ("all",) + GROUPS:
        mask = None if group == "all" else (labels == group)
        metrics, n_users = ranking_metrics(topk, positives, ks, mask)
        n_test = sum(len(p) if mask is None else int(mask[p].sum()) for p in positives)
        n_items = len(labels) - 1 if mask is None else int(mask.sum())
        out[group] = {"n_items": n_items, "n_test_interactions": n_test, "n_users": n_users, **metrics}
    return {"shares": {"unpopular": unpopular, "popular": popular}, "groups": out}


# ----- probes -------------------------------------------------------------------------------------
class EpochEcho(RunListener):
    """One line of text per validated epoch (the progress of a cell), to ``echo``."""

    def __init__(self, echo):
        self.echo = echo
        self.last = None

    def train_epoch_end(self, epoch, record):
        self.last = record

    def valid_epoch_end(self, epoch, record):
        if self.last is not None:
            self.echo(f"epoch {epoch + 1}: loss {self.last['loss']:.4f}, {self.last['seconds']:.1f} s, "
                      f"valid score {record['score']:.4f}")


class NegativeLog(RunListener):
    """Records the negatives of each training batch and, per epoch, the false-hard-negative rate.

    The negatives are what the trainer passes to :meth:`batch_end`: the item each pair's negative
    came from (the plugin's samplers), else the batch's ``NEG_ITEM_ID`` column (RecBole's own
    sampling, dynamic DNS included). At the end of each epoch the recorded negatives are
    compared with the user's test items under the model's current item embeddings
    (:func:`false_negative_flags`).

    Where the model mixes in semantic negatives from a feature set with ``extra/neg_items.npy``
    (the built-in ``retrieval`` set), the same rate is also computed for those items
    (``semantic_rate``: the first ``n_hard`` items of each training pair of the epoch).
    """

    def __init__(self, model, test_data, train_dataset, n_hard=1, threshold=0.99):
        self.model = model
        self.threshold = threshold
        self.test_items = list(test_data.uid2positive_item)
        self.epochs = []
        self._users, self._negs, self._pos = [], [], []
        self.semantic = _semantic_items(model, train_dataset, n_hard)

    def batch_end(self, interaction, chosen):
        users = interaction[self.model.USER_ID]
        self._users.append(users.detach().cpu())
        self._negs.append(chosen.detach().reshape(len(users), -1)[:, 0].cpu())
        self._pos.append(interaction[self.model.ITEM_ID].detach().cpu())

    def train_epoch_end(self, epoch_idx, record):
        if not self._users:
            return
        users, negs, pos = torch.cat(self._users), torch.cat(self._negs), torch.cat(self._pos)
        self._users, self._negs, self._pos = [], [], []
        emb, source = item_embeddings(self.model)
        row = {"epoch": int(epoch_idx), "negatives": int(len(negs)), "embeddings": source}
        if emb is None:
            row["rate"] = None
            self.epochs.append(row)
            return
        emb = emb.cpu()
        flags, evaluable = false_negative_flags(emb, users, negs, self.test_items, self.threshold)
        row.update(evaluable=int(evaluable.sum()), false=int(flags.sum()),
                   rate=float(flags.sum()) / max(int(evaluable.sum()), 1))
        if self.semantic is not None:
            sem = self.semantic.items_for(users, pos)
            su = users.repeat_interleave(sem.shape[1])
            sflags, seval = false_negative_flags(emb, su, sem.reshape(-1), self.test_items, self.threshold)
            row.update(semantic_evaluable=int(seval.sum()), semantic_false=int(sflags.sum()),
                       semantic_rate=float(sflags.sum()) / max(int(seval.sum()), 1))
        self.epochs.append(row)


class _SemanticItems:
    """Item ids of the stored semantic negatives of each training pair (first ``n_hard``)."""

    def __init__(self, directory, dataset, n_hard):
        import pandas as pd

        from recbole_hnlm.features import FeatureSet

        fs = FeatureSet(directory)
        neg_tokens = fs.extra("neg_items")
        if neg_tokens.ndim == 1:
            neg_tokens = neg_tokens[:, None]
        uid, iid = dataset.uid_field, dataset.iid_field
        item_index = pd.Index(dataset.field2id_token[iid])
        neg = item_index.get_indexer(neg_tokens[:, :n_hard].reshape(-1)).reshape(len(neg_tokens), -1)
        self.n_items = dataset.item_num
        self.granularity = fs.meta["granularity"]
        if self.granularity == "pair":
            users = pd.Index(dataset.field2id_token[uid]).get_indexer(fs.keys[:, 0])
            items = item_index.get_indexer(fs.keys[:, 1])
            ok = (users >= 0) & (items >= 0)
            codes = users[ok].astype(np.int64) * self.n_items + items[ok]
            order = np.argsort(codes)
            self.codes = torch.from_numpy(codes[order])
            self.neg = torch.from_numpy(neg[ok][order].astype(np.int64))
        else:
            field = uid if self.granularity == "user" else iid
            ids = pd.Index(dataset.field2id_token[field]).get_indexer(fs.keys)
            size = dataset.user_num if self.granularity == "user" else dataset.item_num
            self.neg = torch.zeros(size, neg.shape[1], dtype=torch.long)
            self.neg[torch.from_numpy(ids[ids >= 0])] = torch.from_numpy(neg[ids >= 0].astype(np.int64))

    def items_for(self, users, items):
        if self.granularity == "pair":
            codes = users.long() * self.n_items + items.long()
            found, pos = find_codes(self.codes, codes)
            out = self.neg[pos]
            out[~found] = 0
            return out.clamp(min=0)
        return self.neg[users if self.granularity == "user" else items].clamp(min=0)


def _semantic_items(model, dataset, n_hard):
    """:class:`_SemanticItems` for a model that mixes semantic negatives with item ids on disk, else None."""
    semantic = getattr(model, "semantic", None)
    if semantic is None or not getattr(model, "mix_alpha", 0):
        return None
    directory = getattr(semantic, "directory", None)
    if not directory or not os.path.isfile(os.path.join(directory, "extra", "neg_items.npy")):
        return None
    return _SemanticItems(directory, dataset, int(n_hard or 1))


class PeakRSS:
    """Samples the process's resident set size in a thread while a block runs (bytes)."""

    def __init__(self, interval=0.02):
        import psutil

        self.proc = psutil.Process()
        self.interval = interval
        self.start = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self):
        self.start = self.peak = self.proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

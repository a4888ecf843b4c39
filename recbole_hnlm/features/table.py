"""The runtime view of a feature set: rows looked up by RecBole's internal ids during training."""
import logging
import os

import numpy as np
import pandas as pd
import torch

from recbole_hnlm.features.format import FeatureFileError


def center_rows(table, rows):
    """``table`` with the mean of its ``rows`` subtracted from them and each of them L2-normalised.

    An LLM's hidden states share one dominant direction (``results/scft_ml100k/v2/feature_spread.log``),
    so the projector of HNLM Eq. 6 would see nearly one input; this keeps only how rows differ.
    ``rows``: a boolean mask or a slice; rows outside it (keys absent from the file) stay zero.
    """
    out = table.clone()
    picked = table[rows].double()  # the rows differ in their last digits: centre in float64
    if len(picked):
        out[rows] = torch.nn.functional.normalize(picked - picked.mean(dim=0), dim=-1).to(table.dtype)
    return out


class FeatureTable:
    """One feature set opened for a run: its rows indexed by RecBole's internal ids.

    ``lookup(user, item)`` returns e_llm for each training pair: the mean of the first ``n_hard``
    stored negatives (HNLM Eq. 5), as float32 on the device of ``user``. ``center`` removes the set's mean
    row and L2-normalises every row (:func:`center_rows`).
    """

    def __init__(self, feature_set, dataset, n_hard=1, granularity=None, dim=None, center=False):
        meta = feature_set.meta
        where = os.path.join(feature_set.directory, "meta.json")
        if granularity and meta["granularity"] != granularity:
            raise FeatureFileError(f"{where}: granularity is {meta['granularity']!r}, the config asks {granularity!r}")
        if dim and meta["dim"] != dim:
            raise FeatureFileError(f"{where}: dim is {meta['dim']}, the config asks {dim}")
        if not 1 <= n_hard <= meta["k"]:
            raise FeatureFileError(f"{where}: n_hard={n_hard} but the file holds k={meta['k']} negatives per key")
        self.granularity = meta["granularity"]
        self.dim = meta["dim"]
        self.n_items = dataset.item_num
        uid, iid = dataset.uid_field, dataset.iid_field
        stored = feature_set.embeddings
        # the table keeps the file's dtype (float16 halves memory); lookups return float32
        if n_hard == 1:
            vectors = np.array(stored[:, 0, :])
        else:
            vectors = np.asarray(stored[:, :n_hard, :], dtype=np.float32).mean(axis=1).astype(stored.dtype)

        def to_ids(field, tokens):
            return pd.Index(dataset.field2id_token[field]).get_indexer(np.asarray(tokens)).astype(np.int64)

        if self.granularity == "pair":
            users, items = to_ids(uid, feature_set.keys[:, 0]), to_ids(iid, feature_set.keys[:, 1])
            known = (users >= 0) & (items >= 0)
            codes = users[known] * self.n_items + items[known]
            order = np.argsort(codes, kind="stable")
            self.codes = torch.from_numpy(codes[order])
            self.table = torch.from_numpy(vectors[known][order])
        else:
            field, size = (uid, dataset.user_num) if self.granularity == "user" else (iid, dataset.item_num)
            ids = to_ids(field, feature_set.keys)
            known = ids >= 0
            self.table = torch.zeros(size, self.dim, dtype=torch.from_numpy(vectors[:0]).dtype)
            self.present = torch.zeros(size, dtype=torch.bool)
            self.table[torch.from_numpy(ids[known])] = torch.from_numpy(vectors[known])
            self.present[torch.from_numpy(ids[known])] = True
        if center:
            self.table = center_rows(self.table, self.present if self.granularity != "pair" else slice(None))
        dropped = int((~known).sum())
        if dropped:
            logging.getLogger().info(f"{feature_set.directory}: {dropped} rows name tokens absent from the dataset, ignored")
        self.directory = feature_set.directory
        self.check_covers(dataset)

    def _missing(self, users, items):
        if self.granularity == "pair":
            codes = users * self.n_items + items
            pos = torch.searchsorted(self.codes, codes).clamp(max=max(len(self.codes) - 1, 0))
            found = self.codes[pos] == codes if len(self.codes) else torch.zeros_like(codes, dtype=torch.bool)
            return ~found, pos
        ids = users if self.granularity == "user" else items
        return ~self.present[ids], ids

    def check_covers(self, dataset):
        """Every training interaction of ``dataset`` must have an embedding: no silent fallback."""
        users = torch.as_tensor(dataset.inter_feat[dataset.uid_field]).long()
        items = torch.as_tensor(dataset.inter_feat[dataset.iid_field]).long()
        missing, _ = self._missing(users, items)
        n = int(missing.sum())
        if n:
            j = int(missing.nonzero()[0])
            u = dataset.id2token(dataset.uid_field, int(users[j]))
            i = dataset.id2token(dataset.iid_field, int(items[j]))
            raise FeatureFileError(
                f"{self.directory}: {n} of {len(users)} training interactions have no {self.granularity} "
                f"embedding (first: user {u}, item {i}); the features were exported for another split or dataset"
            )

    def to(self, device):
        for name in ("codes", "table", "present"):
            if hasattr(self, name):
                setattr(self, name, getattr(self, name).to(device))
        return self

    def lookup(self, users, items):
        missing, index = self._missing(users, items)
        if bool(missing.any()):
            raise FeatureFileError(f"{self.directory}: {int(missing.sum())} pairs in the batch have no embedding")
        return self.table[index].float()

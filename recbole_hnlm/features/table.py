"""The runtime view of a feature set: rows looked up by RecBole's internal ids during training."""
import logging
import os

import numpy as np
import pandas as pd
import torch

from recbole_hnlm.codes import find_codes
from recbole_hnlm.features.builtin import train_fingerprint
from recbole_hnlm.features.format import FeatureFileError

MOSTLY = 0.5  # a set whose fallback share is above this trains mostly on retrieval, not on LLM answers


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


def check_origin(feature_set, dataset, unknown, max_unknown):
    """Refuse a feature set made for another dataset, or a pair set made for another training split.

    ``unknown``: rows whose tokens ``dataset`` lacks; more than ``max_unknown`` of them (a share) means
    another dataset. The training split is told by ``source.train_fingerprint``: a user or item set
    keyed by tokens survives a re-split (with a warning), a pair set does not.
    """
    directory, meta = feature_set.directory, feature_set.meta
    logger = logging.getLogger()
    if max_unknown is not None and unknown > max_unknown * meta["count"]:
        raise FeatureFileError(
            f"{directory}: {unknown} of {meta['count']} rows name tokens absent from dataset "
            f"{dataset.dataset_name!r} (more than hnlm_feature_max_unknown={max_unknown:g}); "
            f"the set was made for another dataset"
        )
    if unknown:
        logger.info(f"{directory}: {unknown} rows name tokens absent from the dataset, ignored")
    source = meta.get("source", {})
    share = source.get("fallback_share")
    if share is not None and share > MOSTLY:
        logger.warning(f"{directory}: {share:.0%} of its rows are the retrieval fallback, not LLM answers "
                       f"(source.fallback_share); training on it is training on retrieval negatives")
    made_for = source.get("train_fingerprint")
    if made_for is None:
        return
    here = train_fingerprint(dataset.inter_feat[dataset.uid_field].numpy(), dataset.inter_feat[dataset.iid_field].numpy())
    if made_for == here:
        return
    what = f"{directory}: exported for another training split (source.train_fingerprint {made_for}, this split {here})"
    if meta["granularity"] == "pair":
        raise FeatureFileError(f"{what}; a pair set cannot serve another split: export it again for this one")
    logger.warning(f"{what}; its {meta['granularity']} rows are used by token, but were built from other "
                   f"training interactions")


def finite_rows(vectors, path, keys):
    """``vectors`` unchanged, or an error naming ``path`` and the first key whose row holds NaN or inf."""
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        row = int(bad.argmax())
        raise FeatureFileError(
            f"{path}: {int(bad.sum())} rows hold NaN or inf (first: row {row}, key {keys[row].tolist()!r})"
        )
    return vectors


class FeatureTable:
    """One feature set opened for a run: its rows indexed by RecBole's internal ids.

    ``lookup(user, item)`` returns e_llm for each training pair: the mean of the first ``n_hard``
    stored negatives (HNLM Eq. 5), as float32 on the device of ``user``; ``rows(user, item)`` returns
    the batch's distinct e_llm rows and each pair's index into them, so that a model projects each row
    once. ``center`` removes the set's mean row and L2-normalises every row (:func:`center_rows`; for a
    set by reference, the rows of the referenced item set). ``max_unknown``: see :func:`check_origin`.

    A set by value keeps its vectors in ``table`` (one row per key, the file's dtype: float16 halves
    memory). A set by reference (``format.py``) keeps the referenced item vectors in ``table``
    (n_items x d) and, per key, only the ids of its ``n_hard`` negative items in ``neg``.
    """

    def __init__(self, feature_set, dataset, n_hard=1, granularity=None, dim=None, center=False, max_unknown=None):
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

        def to_ids(field, tokens):
            tokens = np.asarray(tokens)
            ids = pd.Index(dataset.field2id_token[field]).get_indexer(tokens.reshape(-1)).astype(np.int64)
            return ids.reshape(tokens.shape)

        by_reference = feature_set.reference is not None
        self.neg = None
        if not by_reference:
            values = self._mean_vectors(feature_set, n_hard)
        else:  # per key, the ids of its negative items; an unknown item makes the key unknown
            values = to_ids(iid, feature_set.ref_tokens[:, :n_hard])
            ref = FeatureTable(feature_set.reference, dataset, granularity="item", dim=self.dim, center=center,
                               max_unknown=max_unknown)
            self.table = ref.table
            lacking = (values >= 0) & ~ref.present.numpy()[values.clip(min=0)]
            if lacking.any():
                row = int(lacking.any(axis=1).argmax())
                raise FeatureFileError(
                    f"{feature_set.directory}: {int(lacking.sum())} negatives name items that {ref.directory} "
                    f"has no row for (first: key {feature_set.keys[row].tolist()!r})"
                )

        if self.granularity == "pair":
            users, items = to_ids(uid, feature_set.keys[:, 0]), to_ids(iid, feature_set.keys[:, 1])
            known = (users >= 0) & (items >= 0)
        else:
            field, size = (uid, dataset.user_num) if self.granularity == "user" else (iid, dataset.item_num)
            ids = to_ids(field, feature_set.keys)
            known = ids >= 0
        if by_reference:
            known &= (values >= 0).all(axis=1)
            values = values.astype(np.int32)  # item ids: half the memory of int64
        if self.granularity == "pair":
            codes = users[known] * self.n_items + items[known]
            order = np.argsort(codes, kind="stable")
            self.codes = torch.from_numpy(codes[order])
            stored = torch.from_numpy(values[known][order])
        else:
            stored = torch.zeros(size, values.shape[1], dtype=torch.from_numpy(values[:0]).dtype)
            self.present = torch.zeros(size, dtype=torch.bool)
            stored[torch.from_numpy(ids[known])] = torch.from_numpy(values[known])
            self.present[torch.from_numpy(ids[known])] = True
        if not by_reference:
            self.table = stored
            if center:
                self.table = center_rows(self.table, self.present if self.granularity != "pair" else slice(None))
        else:
            self.neg = stored
        check_origin(feature_set, dataset, int((~known).sum()), max_unknown)
        self.directory = feature_set.directory
        self.check_covers(dataset)

    @staticmethod
    def _mean_vectors(feature_set, n_hard):
        """One row per key: the first ``n_hard`` stored vectors averaged (HNLM Eq. 5), in the file's dtype."""
        stored = feature_set.embeddings
        if n_hard == 1:
            vectors = np.array(stored[:, 0, :])
        else:
            vectors = np.asarray(stored[:, :n_hard, :], dtype=np.float32).mean(axis=1).astype(stored.dtype)
        return finite_rows(vectors, os.path.join(feature_set.directory, "embeddings.npy"), feature_set.keys)

    def _missing(self, users, items):
        if self.granularity == "pair":
            codes = users * self.n_items + items
            found, pos = find_codes(self.codes, codes)
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
        for name in ("codes", "table", "present", "neg"):
            if getattr(self, name, None) is not None:
                setattr(self, name, getattr(self, name).to(device))
        return self

    def rows(self, users, items):
        """(distinct e_llm rows of the batch, float32; for each pair the index of its row)."""
        missing, index = self._missing(users, items)
        if bool(missing.any()):
            raise FeatureFileError(f"{self.directory}: {int(missing.sum())} pairs in the batch have no embedding")
        if self.neg is None:
            distinct, inverse = torch.unique(index, return_inverse=True)
            return self.table[distinct].float(), inverse
        neg = self.neg[index].long()
        if neg.shape[1] == 1:  # the common case: distinct negative items
            distinct, inverse = torch.unique(neg[:, 0], return_inverse=True)
            return self.table[distinct].float(), inverse
        distinct, inverse = torch.unique(neg, dim=0, return_inverse=True)
        return self.table[distinct].float().mean(dim=1), inverse

    def lookup(self, users, items):
        vectors, inverse = self.rows(users, items)
        return vectors[inverse]

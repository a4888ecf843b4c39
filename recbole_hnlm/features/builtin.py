"""The built-in feature sets, LLM-free: item text embedded once, and retrieval in that text space.

For each training pair (u, v) the negatives are the items nearest to v in text-embedding space
that u never interacted with in training (validation and test items are not looked at, so
nothing leaks). The vectors are those items' text embeddings, i.e. the same kind of e_llm
that the LLM pipeline writes, so the models cannot tell the sources apart. ``retrieval`` and
``retrieval-item`` store them by reference (the negatives' item tokens, resolved through ``item-text``
at lookup), and ``item-text`` in float16: unit vectors lose < 1e-3 per coordinate.
"""
import hashlib
import json
import logging
import os
import shutil

import numpy as np

from recbole_hnlm.data.atomic import AtomicFileError, atomic_path, item_texts
from recbole_hnlm.features.embedder import local_text_embedder
from recbole_hnlm.features.format import FeatureFileError, feature_dir, write_features, write_reference_features

BUILTIN_FEATURES = ("retrieval", "retrieval-item", "item-text")
BUILTIN_LAYOUT = 2  # 2: retrieval sets by reference, float16 item-text; older builds are rebuilt
ITEM_TEXT_REFERENCE = {"set": "item-text", "field": "neg_items"}


def train_fingerprint(users, items):
    """A short hash of the training pairs, to tell whether built features match the split."""
    codes = np.sort(np.asarray(users, dtype=np.int64) * (int(np.max(items)) + 1) + np.asarray(items, dtype=np.int64))
    return hashlib.sha1(codes.tobytes()).hexdigest()[:16]


def text_fields_label(config):
    """``hnlm_text_fields`` as the built sets record it: None (the yaml's ~) means every text column, "all"."""
    fields = config["hnlm_text_fields"]
    return "all" if fields is None else list(fields)


def dataset_item_texts(config, dataset):
    """Text of every item of ``dataset`` (internal id order), from its ``.item`` file."""
    path = atomic_path(config["data_path"], "item")
    if not os.path.isfile(path):
        raise AtomicFileError(
            f"{path}: missing; semantic negatives need item text (title, categories...), "
            f"and dataset {config['dataset']!r} has none"
        )
    texts = item_texts(config["data_path"], fields=config["hnlm_text_fields"], id_field=dataset.iid_field)
    tokens = dataset.field2id_token[dataset.iid_field]
    out = [texts.get(t, "") for t in tokens[1:]]  # id 0 is RecBole's padding
    empty = sum(1 for t in out if not t)
    if empty == len(out):
        raise AtomicFileError(f"{path}: no item has text in the chosen fields")
    if empty:
        logging.getLogger().warning(f"{path}: {empty} of {len(out)} items have no text; they are embedded by id")
        out = [t or f"item {tokens[i + 1]}" for i, t in enumerate(out)]
    return ["[PAD]"] + out


def nearest_negatives(item_vec, users, items, k, skip=0, pool=64):
    """For each pair, the ``k`` items nearest to the positive (cosine) that the user has not interacted with.

    ``item_vec`` is n_items x d, L2-normalised, row 0 the padding item (never chosen). The ``skip``
    nearest eligible items are passed over (likely false negatives). Returns pairs x k item ids.
    """
    n_items = len(item_vec)
    positives = np.unique(users.astype(np.int64) * n_items + items)
    need = k + skip
    result = np.full((len(users), need), -1, dtype=np.int64)
    pool = min(n_items - 1, max(pool, need + 1))
    unique_items, inverse = np.unique(items, return_inverse=True)
    sims = item_vec[unique_items] @ item_vec.T
    sims[np.arange(len(unique_items)), unique_items] = -np.inf  # the positive itself
    sims[:, 0] = -np.inf
    neighbours = np.argpartition(-sims, pool - 1, axis=1)[:, :pool]
    order = np.take_along_axis(sims, neighbours, axis=1).argsort(axis=1)[:, ::-1]
    neighbours = np.take_along_axis(neighbours, order, axis=1)
    cand = neighbours[inverse]
    eligible = ~np.isin(users[:, None].astype(np.int64) * n_items + cand, positives)
    rank = np.cumsum(eligible, axis=1)
    for slot in range(need):
        hit = eligible & (rank == slot + 1)
        has = hit.any(axis=1)
        result[has, slot] = cand[has, hit[has].argmax(axis=1)]
    short = np.nonzero((result < 0).any(axis=1))[0]
    for row in short:  # rare: a heavy user who owns the whole pool; rank every item for that row
        full = np.argsort(-sims[inverse[row]])
        full = full[np.isfinite(sims[inverse[row]][full])]
        ok = full[~np.isin(users[row] * n_items + full, positives)]
        result[row] = ok[:need] if len(ok) >= need else np.resize(ok, need)
    return result[:, skip:]


def build_builtin_features(config, train_dataset):
    """Build the built-in feature sets of the run's dataset, all from one pass of the text embedder.

    ``retrieval`` (per pair, k nearest unseen items), ``retrieval-item`` (per item) and
    ``item-text`` (each item's own text embedding, the anchor of the projector).
    """
    logger = logging.getLogger()
    k, skip = config["retrieval_k"], config["retrieval_skip"]
    embedder = local_text_embedder(config["hnlm_text_embedder"])
    texts = dataset_item_texts(config, train_dataset)
    logger.info(f"building semantic features: embedding {len(texts) - 1} item texts with {embedder.name}")
    item_vec = embedder.encode(texts, show_progress=config["show_progress"])
    item_vec[0] = 0.0
    uid, iid = train_dataset.uid_field, train_dataset.iid_field
    users = np.asarray(train_dataset.inter_feat[uid].numpy(), dtype=np.int64)
    items = np.asarray(train_dataset.inter_feat[iid].numpy(), dtype=np.int64)
    fingerprint = train_fingerprint(users, items)
    # repeat interactions (a user buying an item twice) share one key: one row per distinct pair
    users, items = np.unique(np.stack([users, items], axis=1), axis=0).T
    key_items = np.arange(1, len(item_vec))
    source = {
        "producer": "retrieval", "model": embedder.name, "embedder": config["hnlm_text_embedder"], "k": k, "skip": skip,
        "text_fields": text_fields_label(config), "train_fingerprint": fingerprint, "layout": BUILTIN_LAYOUT,
    }
    pair_neg = nearest_negatives(item_vec, users, items, k, skip)
    # one pseudo-user per item, so that only the item itself is "seen" (one shared user owned every item,
    # which left no eligible neighbour and filled retrieval-item with the padding item)
    item_neg = nearest_negatives(item_vec, np.arange(len(key_items)), key_items, k, skip)
    item_tokens = train_dataset.id2token(iid, key_items)
    pair_keys = np.stack([train_dataset.id2token(uid, users), train_dataset.id2token(iid, items)], axis=1)
    for name in BUILTIN_FEATURES:
        directory = feature_dir(config, name)
        remove_own_build(directory)  # cheap to redo; never mix two builds
    # item-text first: the other two refer to it
    written = {"item-text": write_features(feature_dir(config, "item-text"), "item", item_tokens,
                                           item_vec[key_items], source=source, dtype="float16")}
    for name, granularity, keys, neg in (("retrieval", "pair", pair_keys, pair_neg),
                                         ("retrieval-item", "item", item_tokens, item_neg)):
        written[name] = write_reference_features(feature_dir(config, name), granularity, keys,
                                                 train_dataset.id2token(iid, neg), ITEM_TEXT_REFERENCE,
                                                 item_vec.shape[1], source=source)
    for name, meta in written.items():
        logger.info(f"wrote {meta['count']} {meta['granularity']} rows x {meta['k']} to {feature_dir(config, name)}")


def remove_own_build(directory):
    """Delete a built-in set's folder, finished or not, but only one that this module wrote."""
    if not os.path.isdir(directory):
        return
    for info in ("meta.json", os.path.join("parts", "header.json")):
        path = os.path.join(directory, info)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                producer = json.load(f).get("source", {}).get("producer")
            if producer != "retrieval":
                raise FeatureFileError(
                    f"{path}: a feature set named like a built-in one ({os.path.basename(directory)}) that the "
                    f"built-in producer did not write (producer {producer!r}); rename it, it is never deleted"
                )
    if any(name not in ("meta.json", "keys.npy", "embeddings.npy", "extra", "parts") for name in os.listdir(directory)):
        raise FeatureFileError(f"{directory}: holds files the built-in producer did not write; it is never deleted")
    shutil.rmtree(directory)


def builtin_features_stale(config, train_dataset, directory):
    """True when built-in features exist but were built for another split (they are then rebuilt)."""
    with open(os.path.join(directory, "meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    src = meta.get("source", {})
    users = train_dataset.inter_feat[train_dataset.uid_field].numpy()
    items = train_dataset.inter_feat[train_dataset.iid_field].numpy()
    return (
        src.get("train_fingerprint") != train_fingerprint(users, items)
        or src.get("embedder", "minilm") != config["hnlm_text_embedder"]
        or src.get("k") != config["retrieval_k"]
        or src.get("skip") != config["retrieval_skip"]
        or src.get("text_fields") != text_fields_label(config)
        or src.get("layout") != BUILTIN_LAYOUT
    )

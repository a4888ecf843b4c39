"""Augmented training triples for LLMRec (Wei et al., WSDM 2024: LLM-based implicit feedback augmentation).

Reference:
    Wei Wei et al. "LLMRec: Large Language Models with Graph Augmentation for Recommendation." in WSDM 2024.

Reference code:
    https://github.com/HKUDS/LLMRec

LLMRec asks an LLM, for each user, which of a few candidate items the user would like (i+) and which
not (i-), and trains BPR on these triples as well. ``llmrec_augment`` says where they come from:

* ``profile`` (default; no LLM call at training time): the profile embeddings the other LLM-enhanced
  baselines use stand in for the LLM's judgement: i+ is the unseen item nearest the user's profile
  (cosine), i- the farthest of ``llmrec_aug_candidates`` unseen items drawn uniformly (seeded).
* a file name under ``<data_path>/<ds>/hnlm/`` or a path: tab-separated, with the header
  ``user_id:token<TAB>pos_id:token<TAB>neg_id:token`` and one triple per user (what an LLM stage, or
  the official code's ``augmented_sample_dict`` mapped to tokens, gives).
* ``none``: no augmented triples.

Either way the result is two tensors over internal user ids, the liked and the disliked item, -1
where a user has no triple. Triples never use the padding item, and the built-in one never a
training item of the user.
"""
import logging
import os

import torch
import torch.nn.functional as F

from recbole_hnlm.features import FeatureFileError, feature_dir

HEADER = ("user_id:token", "pos_id:token", "neg_id:token")
logger = logging.getLogger(__name__)


def augmented_triples(config, dataset, user_profile, item_profile):
    """(liked, disliked): long tensors of length ``dataset.user_num``, -1 for users without a triple."""
    source = config["llmrec_augment"]
    if source in (None, "none", False):
        empty = torch.full((dataset.user_num,), -1, dtype=torch.long)
        return empty, empty.clone()
    if source == "profile":
        return profile_triples(
            dataset, user_profile, item_profile, config["llmrec_aug_candidates"], config["seed"]
        )
    return read_triples(feature_dir(config, source), dataset)


def unseen_similarity(seen, user_profile, item_profile, rows):
    """len(rows) x n_items cosine similarities of the users ``rows`` (internal ids) to every item, -inf at
    their training items (``seen``: the users x items CSR matrix) and at the padding item."""
    users, items = F.normalize(user_profile[rows].float(), dim=1), F.normalize(item_profile.float(), dim=1)
    blocked = torch.from_numpy(seen[rows.numpy()].toarray() > 0)
    blocked[:, 0] = True
    return (users @ items.T).masked_fill(blocked, float("-inf"))


def nearest_unseen(dataset, user_profile, item_profile, rows, n, chunk=1024):
    """For each user of ``rows``, the internal ids of up to ``n`` unseen items nearest their profile."""
    seen, out = dataset.inter_matrix(form="csr"), []
    for start in range(0, len(rows), chunk):
        sim = unseen_similarity(seen, user_profile, item_profile, rows[start : start + chunk])
        top = sim.topk(min(n, sim.shape[1]), dim=1)
        out += [idx[torch.isfinite(val)].tolist() for val, idx in zip(top.values, top.indices)]
    return out


def profile_triples(dataset, user_profile, item_profile, n_candidates, seed, chunk=1024):
    """The built-in stand-in: nearest unseen item by profile cosine, and the farthest of ``n_candidates``
    uniformly drawn unseen items."""
    if n_candidates < 1:
        raise ValueError(f"llmrec_aug_candidates must be >= 1, got {n_candidates}")
    gen = torch.Generator().manual_seed(seed)
    seen = dataset.inter_matrix(form="csr")
    liked = torch.full((len(user_profile),), -1, dtype=torch.long)
    disliked = liked.clone()
    for start in range(0, len(user_profile), chunk):
        rows = torch.arange(start, min(start + chunk, len(user_profile)))
        sim = unseen_similarity(seen, user_profile, item_profile, rows)
        blocked = torch.isneginf(sim)
        draw = torch.rand(sim.shape, generator=gen).masked_fill(blocked, -1.0)
        cand = draw.topk(min(n_candidates, sim.shape[1]), dim=1).indices
        cand_sim = sim.gather(1, cand).masked_fill(draw.gather(1, cand) < 0, float("inf"))
        neg = cand.gather(1, cand_sim.argmin(dim=1, keepdim=True)).squeeze(1)
        ok = (user_profile[rows].norm(dim=1) > 0) & (~blocked).any(dim=1)
        liked[rows[ok]] = sim[ok].argmax(dim=1)
        disliked[rows[ok]] = neg[ok]
    return liked, disliked


def read_triples(path, dataset):
    """Triples from a TSV file (or ``triples.tsv`` in a folder); malformed lines are errors naming the
    line, tokens the dataset does not know (filtered users or items) are skipped with a warning."""
    if os.path.isdir(path):
        path = os.path.join(path, "triples.tsv")
    if not os.path.isfile(path):
        raise FeatureFileError(f"{path}: llmrec_augment names no such file")
    liked = torch.full((dataset.user_num,), -1, dtype=torch.long)
    disliked = liked.clone()
    fields = (dataset.uid_field, dataset.iid_field, dataset.iid_field)
    unknown, first_unknown = 0, None
    with open(path, encoding="utf-8") as f:
        header = tuple(f.readline().rstrip("\n").split("\t"))
        if header != HEADER:
            raise FeatureFileError(f"{path}, line 1: header must be {'<TAB>'.join(HEADER)!r}, got {header!r}")
        for n, line in enumerate(f, start=2):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                raise FeatureFileError(f"{path}, line {n}: expected 3 tab-separated fields, got {len(parts)}")
            try:
                u, pos, neg = (int(dataset.token2id(field, tok)) for field, tok in zip(fields, parts))
            except ValueError:
                unknown += 1
                first_unknown = first_unknown or n
                continue
            if liked[u] >= 0:
                raise FeatureFileError(f"{path}, line {n}: user {parts[0]!r} has a second triple")
            liked[u], disliked[u] = pos, neg
    if unknown:
        logger.warning("%s: %d triples name users or items not in the dataset (first at line %d), skipped",
                       path, unknown, first_unknown)
    return liked, disliked

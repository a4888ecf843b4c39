"""Train / valid / test splits for pre-split sources.

LightGCN-style sources ship train and test only. Using test for model selection would leak it, so a
validation set is carved from each user's training rows: a seeded random ``ratio`` of them
(rounded, at least one for users with two or more training rows, never all of them). Users with a
single training row keep it in train.
"""
import numpy as np

from .interactions import TRAIN, VALID


def carve_valid(users, splits, mask, ratio, seed):
    """A copy of ``splits`` where some kept training rows of each user are relabelled VALID."""
    if not 0 < ratio < 1:
        raise ValueError(f"valid ratio must be in (0, 1), not {ratio}")
    out = np.array(splits, dtype=np.int8, copy=True)
    rows = np.flatnonzero(mask & (out == TRAIN))
    if not len(rows):
        return out
    rng = np.random.default_rng(seed)
    u = users[rows]
    order = np.lexsort((rng.random(len(rows)), u))
    sorted_u = u[order]
    first = np.r_[0, np.flatnonzero(np.diff(sorted_u)) + 1]
    sizes = np.diff(np.r_[first, len(sorted_u)])
    rank = np.arange(len(sorted_u)) - np.repeat(first, sizes)
    n_valid = np.floor(sizes * ratio + 0.5).astype(np.int64)
    n_valid = np.where(sizes >= 2, np.clip(n_valid, 1, sizes - 1), 0)
    chosen = rank < np.repeat(n_valid, sizes)
    out[rows[order[chosen]]] = VALID
    return out

"""Mean pairwise cosine of feature sets: how much their rows differ at all.

An LLM's hidden states can share one dominant direction (SmolLM2's SCFT export is nearly one vector),
which is what ``hnlm_center_features`` removes. For each feature folder (``atomic_data/<ds>/hnlm/<name>``)
this prints its row count and the mean and standard deviation of the cosine between ``--rows``
randomly chosen rows (all k negatives of a key count as rows)::

    python benchmarks/scft/feature_spread.py atomic_data/ml-100k/hnlm/scft-user atomic_data/ml-100k/hnlm/item-text

A folder that does not exist is reported as missing, not an error (a grid may not have built it yet).
"""
import argparse
import os
import sys

import numpy as np

from recbole_hnlm.features import FeatureSet


def pairwise_cosine(embeddings, rows, seed):
    """(rows used, mean, std) of the off-diagonal cosines between ``rows`` random rows of N x k x d."""
    emb = np.asarray(embeddings).reshape(-1, embeddings.shape[-1]).astype(np.float64)
    pick = np.random.default_rng(seed).choice(len(emb), min(rows, len(emb)), replace=False)
    unit = emb[pick] / np.linalg.norm(emb[pick], axis=1, keepdims=True)
    sims = (unit @ unit.T)[~np.eye(len(pick), dtype=bool)]
    return len(pick), float(sims.mean()), float(sims.std())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", help="feature set folders")
    parser.add_argument("--rows", type=int, default=1000, help="rows compared per set (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for folder in args.folders:
        if not os.path.isdir(folder):
            print(f"{folder}: missing")
            continue
        features = FeatureSet(folder)
        used, mean, std = pairwise_cosine(features.embeddings, args.rows, args.seed)
        print(f"{folder}: {features.embeddings.shape[0] * features.embeddings.shape[1]} rows, "
              f"mean pairwise cosine of {used}: {mean:.3f} ± {std:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

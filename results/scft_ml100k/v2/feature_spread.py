"""Mean pairwise cosine of exported feature sets (1,000 random rows): how much the rows differ at all.

    PYTHONPATH=. python results/scft_ml100k/v2/feature_spread.py
"""
import os

import numpy as np

SETS = ["ml-100k/hnlm/scft-user", "ml-100k/hnlm/scft-user-items", "ml-100k/hnlm/llm-item", "ml-100k/hnlm/item-text",
        "amazon-scientific/hnlm/scft-ml100k-item", "amazon-scientific/hnlm/scft-ml100k-item-items",
        "amazon-scientific/hnlm/item-text"]
for name in SETS:
    path = os.path.join("atomic_data", name, "embeddings.npy")
    if not os.path.isfile(path):
        print(f"{name}: missing")
        continue
    emb = np.load(path, mmap_mode="r")
    emb = np.asarray(emb).reshape(-1, emb.shape[-1]).astype(np.float64)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    pick = np.random.default_rng(0).choice(len(emb), min(1000, len(emb)), replace=False)
    sims = emb[pick] @ emb[pick].T
    off = sims[~np.eye(len(pick), dtype=bool)]
    print(f"{name}: {len(emb)} rows, mean pairwise cosine {off.mean():.3f} ± {off.std():.3f}")

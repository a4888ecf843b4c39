"""Time and memory to load per-pair hard-negative embeddings for a 200k-interaction dataset.

    python benchmarks/bench_feature_load.py [--interactions 200000] [--dim 384]

Generates a synthetic RecBole dataset and feature folders in a temporary directory, then prints,
for each (dtype, k): file size, time to open the folder (memory-mapped), time to index it for the
model (token -> id mapping, averaging n_hard = k, coverage check of every training pair), RSS
growth, and lookups per second in batches of 2048 pairs.
"""
import argparse
import os
import tempfile
import time

import numpy as np
import psutil
import torch

from recbole_hnlm.features import FeatureSet, FeatureTable, write_features
from recbole_hnlm.quick_start import prepare


def make_dataset(root, n_inter, n_users, n_items, seed=0):
    rng = np.random.RandomState(seed)
    ds = os.path.join(root, "bench")
    os.makedirs(ds)
    users = rng.randint(1, n_users + 1, size=n_inter * 2)
    items = rng.zipf(1.3, size=n_inter * 2) % n_items + 1
    pairs = np.unique(np.stack([users, items], 1), axis=0)
    pairs = pairs[rng.permutation(len(pairs))[:n_inter]]
    with open(os.path.join(ds, "bench.inter"), "w") as f:
        f.write("user_id:token\titem_id:token\n")
        f.writelines(f"{u}\t{i}\n" for u, i in pairs)
    return len(pairs)


def rss_mb():
    return psutil.Process().memory_info().rss / 2**20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--interactions", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=384)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as root:
        n = make_dataset(root, args.interactions, n_users=20_000, n_items=10_000)
        cfg = {"data_path": root, "show_progress": False, "state": "ERROR",
               "eval_args": {"split": {"RS": [1.0, 0.0, 0.0]}, "group_by": "user", "order": "RO", "mode": "full"}}
        _, dataset, _, _, _ = prepare("LightGCN", "bench", config_dict=cfg)
        uid, iid = dataset.uid_field, dataset.iid_field
        users = dataset.inter_feat[uid].numpy()
        items = dataset.inter_feat[iid].numpy()
        keys = np.stack([dataset.id2token(uid, users), dataset.id2token(iid, items)], axis=1)
        rows = []
        for dtype in ("float32", "float16"):
            for k in (1, 4):
                d = os.path.join(root, f"f-{dtype}-{k}")
                vec = np.random.RandomState(1).randn(len(keys), k, args.dim).astype(dtype)
                write_features(d, "pair", keys, vec, dtype=dtype)
                del vec
                size = sum(os.path.getsize(os.path.join(d, f)) for f in ("keys.npy", "embeddings.npy")) / 2**20
                rss0 = rss_mb()
                t0 = time.perf_counter()
                fs = FeatureSet(d)
                t1 = time.perf_counter()
                sem = FeatureTable(fs, dataset, n_hard=k)
                t2 = time.perf_counter()
                rss1 = rss_mb()
                u, i = torch.as_tensor(users), torch.as_tensor(items)
                t3 = time.perf_counter()
                for s in range(0, len(u), 2048):
                    sem.lookup(u[s:s + 2048], i[s:s + 2048])
                t4 = time.perf_counter()
                rows.append((dtype, k, size, t1 - t0, t2 - t1, rss1 - rss0, len(u) / (t4 - t3)))
                del sem, fs
        print(f"\npair embeddings for {n} interactions, dim {args.dim} ({os.cpu_count()} CPUs)\n")
        print("| dtype | k | files MB | open s | index s | RSS +MB | lookups/s |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]:.0f} | {r[3]:.3f} | {r[4]:.2f} | {r[5]:.0f} | {r[6]:,.0f} |")


if __name__ == "__main__":
    main()

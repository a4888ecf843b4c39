"""Validation NDCG@20 per epoch and the BPR part of the training loss, from RecBole run logs."""
import re
import sys


def curves(path):
    ndcg, bpr = [], []
    text = open(path, encoding="utf-8", errors="replace").read()
    for m in re.finditer(r"train_loss1: ([0-9.]+)", text):
        bpr.append(float(m.group(1)))
    for m in re.finditer(r"valid result: \n?.*?ndcg@20 : ([0-9.]+)", text, re.S):
        ndcg.append(float(m.group(1)))
    return ndcg, bpr


if __name__ == "__main__":
    print("| run | best epoch (valid NDCG@20) | valid NDCG@20 per epoch | BPR part first -> last |")
    print("|---|---|---|---|")
    for path in sys.argv[1:]:
        ndcg, bpr = curves(path)
        best = max(range(len(ndcg)), key=ndcg.__getitem__) if ndcg else None
        bpr_s = f"{bpr[0]:.2f} -> {bpr[-1]:.2f}" if bpr else "(one loss)"
        best_s = f"{best} ({ndcg[best]:.4f})" if ndcg else "-"
        print(f"| {path.rsplit('/', 1)[-1][:-4]} | {best_s} | {' '.join(f'{v:.4f}' for v in ndcg)} | {bpr_s} |")

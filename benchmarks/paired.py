"""Paired comparisons of two runs of a grid, on validation and test, from the grid's CSV.

    python benchmarks/paired.py results/attribution.csv LightGCN_HNLM:alpha0 LightGCN_HNLM [more pairs ...]

Runs are named as in the grid (``Model`` or ``Model:variant``) and given in pairs (target, baseline).
For each dataset where both ran, prints NDCG@20 and Recall@20 on the validation and the test split at the
best validation epoch: mean ± std over seeds, the mean paired difference and the paired t-test over the
seeds both have. Defaults are chosen from the validation columns; the test columns are reported.
"""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recbole_hnlm.benchmark.stats import fmt_pvalue, mean_std, paired_ttest  # noqa: E402

METRICS = ("valid_ndcg@20", "test_ndcg@20", "valid_recall@20", "test_recall@20")


def load(path):
    by = {}
    with open(path, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            name = row["model"] if row["variant"] == "default" else f"{row['model']}:{row['variant']}"
            by.setdefault((row["dataset"], name), {})[int(row["seed"])] = row
    return by


def compare(by, target, baseline):
    lines = []
    for ds in sorted({d for d, _ in by}):
        a, b = by.get((ds, target)), by.get((ds, baseline))
        if not a or not b:
            continue
        cells = []
        for m in METRICS:
            ta = {s: float(r[m]) for s, r in a.items()}
            tb = {s: float(r[m]) for s, r in b.items()}
            ma, sa, _ = mean_std(ta.values())
            mb, sb, _ = mean_std(tb.values())
            _, p, n = paired_ttest(ta, tb)
            common = [s for s in ta if s in tb]
            diff = sum(ta[s] - tb[s] for s in common) / len(common) if common else float("nan")
            cells.append(f"{ma:.4f} ± {sa:.4f} vs {mb:.4f} ± {sb:.4f} ({diff:+.4f}, p {fmt_pvalue(p)}, {n})")
        lines.append(f"| {ds} | {target} vs {baseline} | " + " | ".join(cells) + " |")
    return lines


def main(argv):
    if len(argv) < 3 or len(argv) % 2 == 0:
        sys.exit(__doc__)
    by = load(argv[0])
    print("| dataset | target vs baseline | " + " | ".join(m.replace("_", " ") + " (diff, p, pairs)" for m in METRICS) + " |")
    print("|---|---|" + "---|" * len(METRICS))
    for target, baseline in zip(argv[1::2], argv[2::2]):
        for line in compare(by, target, baseline):
            print(line)


if __name__ == "__main__":
    main(sys.argv[1:])

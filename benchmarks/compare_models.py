"""Train several models on one dataset with the same split and early stopping; print a metric table.

    python benchmarks/compare_models.py --dataset ml-100k \
        --models LightGCN LightGCN_DNS LightGCN_MixGCF LightGCN_AHNS -- --epochs=100 --stopping_step=5

Everything after ``--`` is passed to every run as RecBole ``--key=value`` settings. Runs are
sequential, in this process; each test result is that of the best validation epoch's checkpoint
(saved in a temporary folder), with the mean training seconds per epoch.
"""
import argparse
import json
import statistics
import sys
import tempfile

from recbole_hnlm.quick_start import run_recbole_hnlm


def parse_overrides(items):
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.lstrip("-").partition("=")
        if not sep:
            raise SystemExit(f"override {item!r} is not --key=value")
        out[key] = yaml.safe_load(value)
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    own, extra = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(own)
    overrides = parse_overrides(extra)
    sys.argv = sys.argv[:1]  # RecBole's Config would read the command line too
    rows = []
    with tempfile.TemporaryDirectory() as ckpt:  # saved=True: test on the best validation epoch's model
        for model in args.models:
            cfg = dict(overrides)
            cfg.setdefault("checkpoint_dir", ckpt)
            result = run_recbole_hnlm(model=model, dataset=args.dataset, config_dict=cfg, saved=True)
            rows.append(result)
            t = result["test_result"]
            print(f"{model}: {dict(t)}  epochs={len(result['epoch_seconds'])}", file=sys.stderr, flush=True)
    metrics = ["recall@10", "recall@20", "ndcg@10", "ndcg@20"]
    print("| model | " + " | ".join(f"test {m}" for m in metrics) + " | best valid ndcg@20 | epochs | s/epoch |")
    print("|---|" + "---|" * (len(metrics) + 3))
    for r in rows:
        t, v = r["test_result"], r["best_valid_result"]
        print(f"| {r['model']} | " + " | ".join(f"{t[m]:.4f}" for m in metrics)
              + f" | {v.get('ndcg@20', float('nan')):.4f} | {len(r['epoch_seconds'])} | "
              f"{statistics.mean(r['epoch_seconds']):.2f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())

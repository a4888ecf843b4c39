"""Cost of HNLM against LightGCN and the hard samplers: seconds per epoch (wall and CPU) and peak memory.

    python benchmarks/bench_cost.py [--datasets ml-100k amazon-beauty] [--epochs 3] [--json rows.json]
    python benchmarks/bench_cost.py --scale [--sizes 100000 500000 2000000] [--png results/cost_scale.png]
    python benchmarks/bench_cost.py --smoke [--scale]     # the demo set (or two tiny scales), 1 epoch

Rows: LightGCN, LightGCN_DNS, LightGCN_MixGCF, LightGCN_AHNS, LightGCN_HNLM (its yaml defaults, with
``semantic_negatives: False``, and with the anchor over 1024 rows, the default before 256) and LightGCN_DNS
with the semantic guard (``semantic_guard_cos: 0.8``) or the above-positive guard. Each (dataset, model)
trains in its own process through the one training path (``quick_start.run_recbole_hnlm``, no validation:
``eval_step: 0``), ``--threads`` torch threads each, one after the other, so the ratios to LightGCN on the
same dataset are what count; absolute seconds move with the machine's other load. Peak memory is the
resident set size sampled while training (after data and feature sets are loaded; building the built-in
features is not timed).
Datasets are converted into ``--data_root`` as in ``bench_samplers.py`` (absent raw files: skipped).

``--scale``: the demo generator (``recbole_hnlm/data/demo.py``) at each ``--sizes`` interactions, with item
text; LightGCN and LightGCN_HNLM; a table and a PNG of cost against size.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_samplers import DATASETS, ROOT, ensure_dataset, run_worker  # noqa: E402

MODELS = {
    "LightGCN": ("LightGCN", {}),
    "DNS": ("LightGCN_DNS", {}),
    "MixGCF": ("LightGCN_MixGCF", {}),
    "AHNS": ("LightGCN_AHNS", {}),
    "HNLM": ("LightGCN_HNLM", {}),
    "DNS+guard": ("LightGCN_DNS", {"semantic_guard_cos": 0.8}),
    "DNS+above": ("LightGCN_DNS", {"guard_above_positive": True}),
    "HNLM-nosem": ("LightGCN_HNLM", {"semantic_negatives": False}),
    "HNLM-anchor1024": ("LightGCN_HNLM", {"anchor_max_items": 1024}),
}
# built in a process of their own first: the text embedder is not measured
FEATURE_ROWS = ("HNLM", "DNS+guard", "HNLM-nosem", "HNLM-anchor1024")
SCALE_MODELS = ("LightGCN", "HNLM")
SCALE_SIZES = (100_000, 500_000, 2_000_000)
SMOKE_SIZES = (3_000, 6_000)
MEAN_PER_USER = 26  # the demo generator draws 12..39 interactions per user


# ----- one measurement (child process) ------------------------------------------------------------
def run_config(row, epochs, data_root, batch_size, checkpoint_dir):
    model_name, extra = MODELS[row]
    return model_name, {
        "data_path": data_root, "checkpoint_dir": checkpoint_dir, "show_progress": False, "state": "WARNING",
        "epochs": epochs, "train_batch_size": batch_size, "eval_step": 0, **extra,
    }


def build_features(dataset, row, data_root):
    """The row's feature sets, built (``prepare`` ensures them) so that the measured run only opens them."""
    from recbole_hnlm.quick_start import prepare

    with tempfile.TemporaryDirectory() as tmp:
        model_name, cfg = run_config(row, 1, data_root, 2048, tmp)
        prepare(model=model_name, dataset=dataset, config_dict=cfg)
    return {"dataset": dataset, "row": row, "prepared": True}


def measure(dataset, row, epochs, data_root, batch_size, threads):
    import torch

    torch.set_num_threads(threads)

    from recbole_hnlm.benchmark.analyses import PeakRSS
    from recbole_hnlm.quick_start import RunHooks, run_recbole_hnlm
    from recbole_hnlm.trainer import RunListener

    class Cost(RunHooks, RunListener):
        """CPU seconds of each training epoch and the peak RSS from the first epoch to the last."""

        def before_fit(self, config, model, trainer, train_data, valid_data, test_data):
            self.train_interactions = len(train_data.dataset.inter_feat)
            self.cpu_seconds = []
            self.rss = PeakRSS().__enter__()
            self.cpu_mark = time.process_time()
            trainer.listeners.append(self)

        def train_epoch_end(self, epoch, record):
            now = time.process_time()
            self.cpu_seconds.append(now - self.cpu_mark)
            self.cpu_mark = now
            if len(self.cpu_seconds) == epochs:
                self.rss.__exit__(None, None, None)

    hooks = Cost()
    with tempfile.TemporaryDirectory() as tmp:
        model_name, cfg = run_config(row, epochs, data_root, batch_size, tmp)
        result = run_recbole_hnlm(model=model_name, dataset=dataset, config_dict=cfg, saved=False, hooks=hooks)
    return {
        "dataset": dataset, "row": row, "model": model_name, "settings": MODELS[row][1],
        "train_interactions": hooks.train_interactions, "batch_size": batch_size,
        "epoch_seconds": result["epoch_seconds"], "epoch_cpu_seconds": hooks.cpu_seconds,
        "rss_start_mb": hooks.rss.start / 2**20, "rss_peak_mb": hooks.rss.peak / 2**20,
        "threads": torch.get_num_threads(), "load_avg_1min": os.getloadavg()[0],
    }


# ----- data -------------------------------------------------------------------------------------
def scale_dataset(data_root, interactions):
    """A demo-generator set of about ``interactions`` interactions (generated once), and its name."""
    from recbole_hnlm.data.demo import generate

    name = f"hnlm-scale-{interactions}"
    out = os.path.join(data_root, name)
    if not os.path.isfile(os.path.join(out, f"{name}.inter")):
        n_users = max(50, interactions // MEAN_PER_USER)
        n_items = min(20_000, max(300, interactions // 100))  # retrieval's text search holds items x items
        print(f"generating {name}: {n_users} users, {n_items} items", file=sys.stderr, flush=True)
        generate(out, n_users=n_users, n_items=n_items)
    return name


# ----- driver -----------------------------------------------------------------------------------
def collect(datasets, rows, args):
    out = []
    for ds in datasets:
        for row in rows:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", ds, row, "--epochs", str(args.epochs),
                   "--batch_size", str(args.batch_size), "--data_root", args.data_root, "--threads", str(args.threads)]
            if row in FEATURE_ROWS:
                print(f"{ds} / {row}: building its feature sets ...", file=sys.stderr, flush=True)
                if run_worker(cmd + ["--prepare"]) is None:
                    continue
            print(f"{ds} / {row} ...", file=sys.stderr, flush=True)
            got = run_worker(cmd)
            if got is not None:
                out.append(got)
    return out


def cost_table(rows):
    lines = [
        "| dataset | row | model | train inter. | wall s/epoch | CPU s/epoch | CPU x LightGCN | peak RSS MB "
        "| RSS x LightGCN | threads | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = {r["dataset"]: r for r in rows if r["row"] == "LightGCN"}
    for r in rows:
        cpu = statistics.mean(r["epoch_cpu_seconds"])
        ref = base.get(r["dataset"])
        cpu_x = f"{cpu / statistics.mean(ref['epoch_cpu_seconds']):.2f}" if ref else "-"
        rss_x = f"{r['rss_peak_mb'] / ref['rss_peak_mb']:.2f}" if ref else "-"
        lines.append(
            f"| {r['dataset']} | {r['row']} | {r['model']} | {r['train_interactions']:,} | "
            f"{statistics.mean(r['epoch_seconds']):.2f} | {cpu:.2f} | {cpu_x} | {r['rss_peak_mb']:.0f} | {rss_x} | "
            f"{r['threads']} | {r['load_avg_1min']:.1f} |"
        )
    return "\n".join(lines)


def scale_plot(rows, path):
    from recbole_hnlm.benchmark import plots

    if not plots.available():
        print(f"matplotlib is absent: {path} not drawn", file=sys.stderr)
        return None
    cpu, rss = {}, {}
    for r in rows:
        x = r["train_interactions"]
        cpu.setdefault(r["row"], []).append((x, statistics.mean(r["epoch_cpu_seconds"]), None))
        rss.setdefault(r["row"], []).append((x, r["rss_peak_mb"], None))
    stem, ext = os.path.splitext(path)
    plots.lines(cpu, path, "cost against size", "training interactions", "CPU s / epoch")
    plots.lines(rss, f"{stem}-rss{ext}", "memory against size", "training interactions", "peak RSS MB")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["ml-100k", "amazon-beauty"], choices=sorted(DATASETS))
    parser.add_argument("--models", nargs="+", default=None, choices=list(MODELS))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=2048)
    parser.add_argument("--shared", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--data_root", default=os.path.join(ROOT, "atomic_data"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (see bench_samplers.py)")
    parser.add_argument("--scale", action="store_true", help="the scaling curve on demo-generator sets")
    parser.add_argument("--sizes", nargs="+", type=int, default=None, help="interactions of the --scale sets")
    parser.add_argument("--png", default=os.path.join(ROOT, "results", "cost_scale.png"))
    parser.add_argument("--smoke", action="store_true", help="the demo set (or two tiny --scale sets), 1 epoch")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--worker", nargs=2, metavar=("DATASET", "ROW"), help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker and args.prepare:
        print("RESULT " + json.dumps(build_features(*args.worker, args.data_root)))
        return 0
    if args.worker:
        print("RESULT " + json.dumps(measure(*args.worker, args.epochs, args.data_root, args.batch_size, args.threads)))
        return 0
    if args.smoke:
        args.epochs = 1
    if args.scale:
        sizes = args.sizes or (SMOKE_SIZES if args.smoke else SCALE_SIZES)
        rows = collect([scale_dataset(args.data_root, n) for n in sizes], args.models or SCALE_MODELS, args)
    else:
        from recbole_hnlm.config import DEFAULT_DATASET

        datasets = [DEFAULT_DATASET] if args.smoke else []
        for ds in [] if args.smoke else args.datasets:
            if ensure_dataset(ds, args.shared, args.data_root) is None:
                print(f"skipping {ds}: {os.path.join(args.shared, DATASETS[ds][1])} is absent", file=sys.stderr)
            else:
                datasets.append(ds)
        rows = collect(datasets, args.models or list(MODELS), args)
    print(cost_table(rows))
    if args.scale and rows:
        drawn = scale_plot(rows, args.png)
        if drawn:
            print(f"\nfigure: {drawn}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())

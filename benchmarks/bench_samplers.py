"""Seconds per epoch and peak memory of each hard-negative sampler vs RNS, on LightGCN.

    python benchmarks/bench_samplers.py [--datasets amazon-beauty gowalla] [--epochs 3]
           [--samplers rns dns mixgcf ahns recbole-dns] [--shared ../shared/data]

Rows: ``rns`` (RecBole's LightGCN), ``dns`` / ``mixgcf`` / ``ahns`` (LightGCN_DNS / _MixGCF / _AHNS,
the plugin's in-loss samplers with their default M) and ``recbole-dns`` (RecBole's LightGCN with
``train_neg_sample_args: {dynamic: True, candidate_num: dns_m}``, which scores the candidates with
``model.predict`` -- a full extra propagation per batch -- inside the dataloader).

Each (dataset, sampler) runs in its own process, so that peak memory is its own: the resident set
size is sampled every 10 ms while training. Only training epochs are timed (no evaluation), both in
wall seconds and in CPU seconds of the process (``time.process_time``): on a shared machine the
wall time moves with the other load, the CPU time of a one-thread run much less.
Datasets come from ``--shared`` (the raw files of ../shared/data) and are converted into
``atomic_data/<ds>/`` with ``python -m recbole_hnlm.data.convert`` when absent; a dataset whose raw
files are absent is skipped.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from recbole_hnlm.benchmark.analyses import PeakRSS  # one sampler of peak memory for every benchmark

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLER_MODELS = {
    "rns": ("LightGCN", {}),
    "dns": ("LightGCN_DNS", {}),
    "mixgcf": ("LightGCN_MixGCF", {}),
    "ahns": ("LightGCN_AHNS", {}),
    "recbole-dns": ("LightGCN", {"dynamic": True}),
}
# dataset -> (converter format, raw folder name under --shared, extra converter arguments)
DATASETS = {
    "amazon-beauty": ("p5", "amazon-beauty", []),
    "gowalla": ("lightgcn", "gowalla", []),
    "ml-100k": ("atomic", "ml-100k", []),
}


# ----- data ---------------------------------------------------------------------------------------
def ensure_dataset(name, shared, data_root):
    """``data_root/<name>`` converted from ``shared/<raw>``; None when the raw files are absent."""
    fmt, raw, extra = DATASETS[name]
    src = os.path.join(shared, raw)
    out = os.path.join(data_root, name)
    if os.path.isfile(os.path.join(out, f"{name}.inter")) or os.path.isfile(os.path.join(out, f"{name}.train.inter")):
        return out
    if not os.path.isdir(src):
        return None
    cmd = [sys.executable, "-m", "recbole_hnlm.data.convert", fmt, "--input", src, "--output", out,
           "--no-progress", "-q", *extra]
    print(f"converting {name}: {' '.join(cmd)}", file=sys.stderr)
    done = subprocess.run(cmd, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"the converter failed on {src} (exit {done.returncode})")
    return out


# ----- one measurement (child process) ------------------------------------------------------------


def measure(dataset, sampler, epochs, data_root, batch_size, threads):
    import torch

    torch.set_num_threads(threads)

    from recbole_hnlm.quick_start import prepare
    from recbole_hnlm.utils import get_model, get_trainer

    model_name, extra = SAMPLER_MODELS[sampler]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = {
            "data_path": data_root, "checkpoint_dir": tmp, "show_progress": False, "state": "WARNING",
            "epochs": epochs, "train_batch_size": batch_size, "eval_step": 0,
        }
        if extra.get("dynamic"):
            from recbole_hnlm.config import Config

            m = Config(model="LightGCN_DNS", dataset=dataset, config_dict=cfg)["dns_m"]
            cfg["train_neg_sample_args"] = {"distribution": "uniform", "sample_num": 1, "dynamic": True,
                                            "candidate_num": int(m)}
        config, _, train_data, _, _ = prepare(model=model_name, dataset=dataset, config_dict=cfg)
        model = get_model(model_name)(config, train_data.dataset).to(config["device"])
        trainer = get_trainer(config["MODEL_TYPE"], model_name)(config, model)
        if config["train_neg_sample_args"].get("dynamic", False):
            train_data.get_model(model)  # what Trainer.fit does for dynamic sampling
        seconds, cpu_seconds = [], []
        with PeakRSS() as rss:
            for epoch in range(epochs):
                start, cpu_start = time.perf_counter(), time.process_time()
                trainer._train_epoch(train_data, epoch, show_progress=False)
                seconds.append(time.perf_counter() - start)
                cpu_seconds.append(time.process_time() - cpu_start)
        return {
            "dataset": dataset, "sampler": sampler, "model": model_name,
            "m": (config["train_neg_sample_args"].get("candidate_num") if sampler == "recbole-dns" else
                  {"dns": config["dns_m"], "mixgcf": config["mixgcf_m"], "ahns": config["ahns_m"]}.get(sampler, 1)),
            "train_interactions": len(train_data.dataset.inter_feat), "batch_size": batch_size,
            "epoch_seconds": seconds, "epoch_cpu_seconds": cpu_seconds, "rss_start_mb": rss.start / 2**20, "rss_peak_mb": rss.peak / 2**20,
            "threads": torch.get_num_threads(), "load_avg_1min": os.getloadavg()[0],
        }


# ----- driver -----------------------------------------------------------------------------------
def run_worker(cmd):
    """Run one measurement in its own process; its ``RESULT {json}`` line as a dict, None if it failed."""
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    found = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode != 0 or not found:
        print(f"  failed (exit {done.returncode}):\n{done.stderr[-3000:]}", file=sys.stderr)
        return None
    r = json.loads(found[-1][len("RESULT "):])
    if "epoch_seconds" in r:
        print(f"  {statistics.mean(r['epoch_seconds']):.2f} s/epoch ({statistics.mean(r['epoch_cpu_seconds']):.2f} "
              f"CPU s), peak RSS {r['rss_peak_mb']:.0f} MB", file=sys.stderr, flush=True)
    return r


def table(rows):
    lines = [
        "| dataset | sampler | model | M | train inter. | wall s/epoch (mean) | wall s/epoch (min) "
        "| CPU s/epoch (mean) | CPU x RNS | peak RSS MB | RSS growth MB | threads | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = {r["dataset"]: statistics.mean(r["epoch_cpu_seconds"]) for r in rows if r["sampler"] == "rns"}
    for r in rows:
        mean, cpu = statistics.mean(r["epoch_seconds"]), statistics.mean(r["epoch_cpu_seconds"])
        ratio = f"{cpu / base[r['dataset']]:.2f}" if r["dataset"] in base else "-"
        lines.append(
            f"| {r['dataset']} | {r['sampler']} | {r['model']} | {r['m']} | {r['train_interactions']:,} | "
            f"{mean:.2f} | {min(r['epoch_seconds']):.2f} | {cpu:.2f} | {ratio} | {r['rss_peak_mb']:.0f} | "
            f"{r['rss_peak_mb'] - r['rss_start_mb']:.0f} | {r['threads']} | {r['load_avg_1min']:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["amazon-beauty", "gowalla"], choices=sorted(DATASETS))
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLER_MODELS), choices=list(SAMPLER_MODELS))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=2048)
    parser.add_argument("--shared", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--data_root", default=os.path.join(ROOT, "atomic_data"))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per run (default 1: on shared CPUs, more threads than free cores "
                             "make every run many times slower)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--worker", nargs=2, metavar=("DATASET", "SAMPLER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print("RESULT " + json.dumps(measure(*args.worker, args.epochs, args.data_root, args.batch_size, args.threads)))
        return 0
    rows = []
    for ds in args.datasets:
        if ensure_dataset(ds, args.shared, args.data_root) is None:
            print(f"skipping {ds}: {os.path.join(args.shared, DATASETS[ds][1])} is absent", file=sys.stderr)
            continue
        for sampler in args.samplers:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", ds, sampler, "--epochs", str(args.epochs),
                   "--batch_size", str(args.batch_size), "--data_root", args.data_root,
                   "--threads", str(args.threads)]
            print(f"{ds} / {sampler} ...", file=sys.stderr, flush=True)
            row = run_worker(cmd)
            if row is not None:
                rows.append(row)
    print(table(rows))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Running the cells of a grid: one RecBole training per cell, resumable, with a time budget.

Each finished cell is one JSON record, ``<results>/raw/<ds>/<model>-<variant>-seed<k>.json``,
written atomically (temporary file, then rename), so a killed run loses at most the cell in hand
and a finished cell is never recomputed. A failed cell is written as ``....failed.json`` (with the
traceback) and is tried again by the next ``run``. ``<results>/raw/runs.csv`` holds one row per
record and is rewritten after every cell.

A cell runs either in a child process (``isolation="process"``, the default: its peak memory is
its own, ``cell_timeout`` can stop it, and a crash cannot take the grid down) or in this process
(``"inline"``, faster to start; what tests use).

What a cell does (:func:`execute_cell`): ``run_recbole_hnlm`` itself, the command line's training,
with :class:`CellHooks`: optionally keep a share of the training interactions (``bench_train_ratio``;
valid/test fixed), attach the probes (per-epoch echo, false-hard-negative log) to the trainer's
listeners, and after the test split (best checkpoint) measure per-popularity-group test metrics.
"""
import csv
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

from recbole_hnlm.benchmark.grid import Cell, Run
from recbole_hnlm.files import atomic_write_json
from recbole_hnlm.quick_start import RunHooks, run_recbole_hnlm
from recbole_hnlm.utils import recbole_backbones

logger = logging.getLogger("recbole_hnlm.benchmark")
SCHEMA = 1
CSV_METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")


# ----- storage ------------------------------------------------------------------------------------
def write_record(path, obj):
    """A record or a cell spec, written atomically (the folder made first)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write_json(path, obj, indent=1, sort_keys=True, default=_json_default)


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


class RawStore:
    """The raw records under ``<results>/raw``."""

    def __init__(self, results_dir):
        self.results_dir = results_dir
        self.root = os.path.join(results_dir, "raw")

    def path(self, cell, failed=False):
        return os.path.join(self.root, cell.dataset, cell.key + (".failed.json" if failed else ".json"))

    def log_path(self, cell):
        return os.path.join(self.root, cell.dataset, "logs", cell.key + ".log")

    def load(self, cell, failed=False):
        path = self.path(cell, failed)
        if not os.path.isfile(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except (json.JSONDecodeError, OSError) as e:
            logger.warning("%s: unreadable record (%s); the cell counts as not run", path, e)
            return None

    def write(self, cell, record):
        failed = record.get("status") != "ok"
        write_record(self.path(cell, failed), record)
        if not failed and os.path.isfile(self.path(cell, True)):
            os.remove(self.path(cell, True))

    def records(self):
        """Every finished record under raw/, sorted by dataset and file name."""
        out = []
        if not os.path.isdir(self.root):
            return out
        for ds in sorted(os.listdir(self.root)):
            folder = os.path.join(self.root, ds)
            if not os.path.isdir(folder):
                continue
            for name in sorted(os.listdir(folder)):
                if name.endswith(".json") and not name.endswith(".failed.json"):
                    try:
                        with open(os.path.join(folder, name), encoding="utf-8") as f:
                            out.append(json.load(f))
                    except (json.JSONDecodeError, OSError):
                        continue
        return out

    def write_csv(self, path=None, records=None):
        """One row per record: identity, test and best-validation metrics, timing, memory."""
        path = path or os.path.join(self.root, "runs.csv")
        rows = [csv_row(r) for r in (self.records() if records is None else records)]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
        return path


CSV_FIELDS = (["dataset", "model", "variant", "run", "seed", "sweep", "sweep_value"]
              + [f"test_{m}" for m in CSV_METRICS] + [f"valid_{m}" for m in CSV_METRICS]
              + ["best_epoch", "epochs_run", "sec_per_epoch", "peak_rss_mb", "train_interactions",
                 "wall_seconds", "fingerprint"])


def csv_row(r):
    import statistics

    row = {k: r.get(k) for k in ("dataset", "model", "variant", "run", "seed", "sweep", "sweep_value",
                                  "best_epoch", "epochs_run", "train_interactions", "fingerprint")}
    for m in CSV_METRICS:
        row[f"test_{m}"] = (r.get("test_result") or {}).get(m)
        row[f"valid_{m}"] = (r.get("best_valid_result") or {}).get(m)
    secs = r.get("epoch_seconds") or []
    row["sec_per_epoch"] = round(statistics.mean(secs), 4) if secs else None
    row["peak_rss_mb"] = round((r.get("memory") or {}).get("peak_rss_mb") or 0, 1) or None
    row["wall_seconds"] = round(r.get("wall_seconds") or 0, 1)
    return row


# ----- cell (de)serialisation for child processes -------------------------------------------------
def cell_to_dict(cell):
    run = cell.run
    return {"dataset": cell.dataset, "seed": cell.seed, "config": cell.config,
            "run": {"model": run.model, "variant": run.variant, "config": run.config,
                    "datasets": list(run.datasets) if run.datasets else None, "requires": list(run.requires),
                    "meta": run.meta, "sweep": run.sweep, "sweep_value": run.sweep_value,
                    "seeds": list(run.seeds) if run.seeds else None}}


def cell_from_dict(d):
    r = d["run"]
    run = Run(r["model"], r["variant"], r["config"], tuple(r["datasets"]) if r["datasets"] else None,
              tuple(r["requires"]), r["meta"], r["sweep"], r["sweep_value"],
              tuple(r["seeds"]) if r.get("seeds") else None)
    return Cell(d["dataset"], run, int(d["seed"]), d["config"])


# ----- what is needed and what is done ------------------------------------------------------------
def dataset_folder(cell):
    from recbole_hnlm.config import DEFAULT_DATA_PATH

    return os.path.join(cell.config.get("data_path") or DEFAULT_DATA_PATH, cell.dataset)


def missing_requirements(cell):
    """Paths a cell's run ``requires`` (relative to the dataset's folder) that are absent."""
    folder = dataset_folder(cell)
    return [os.path.join(folder, p) for p in cell.run.requires if not os.path.exists(os.path.join(folder, p))]


def cell_status(cell, store):
    """``done``, ``stale`` (done with another config), ``failed``, ``missing-input`` or ``pending``."""
    record = store.load(cell)
    if record is not None:
        return "done" if record.get("fingerprint") == cell.fingerprint() else "stale"
    if missing_requirements(cell):
        return "missing-input"
    if os.path.isfile(store.path(cell, failed=True)):
        return "failed"
    return "pending"


# ----- one cell -----------------------------------------------------------------------------------
def subsample_train(config, train_data, ratio, seed):
    """A training loader over ``ratio`` of the training interactions; valid/test are untouched.

    The interactions kept are a prefix of one permutation drawn with ``seed`` (the data seed), so
    smaller shares are subsets of larger ones and every model and training seed sees the same
    interactions. The loader keeps the original sampler: negatives never come from any training
    positive, kept or dropped; evaluation still masks the full training history.
    """
    import numpy as np
    import torch

    if not 0 < ratio <= 1:
        raise ValueError(f"bench_train_ratio must be in (0, 1], got {ratio}")
    dataset = train_data.dataset
    n = len(dataset.inter_feat)
    keep = max(1, int(round(ratio * n)))
    order = np.random.RandomState(int(seed)).permutation(n)[:keep]
    sub = dataset.copy(dataset.inter_feat[torch.from_numpy(np.sort(order))])
    return type(train_data)(config, sub, train_data._sampler, shuffle=train_data.shuffle)


class CellHooks(RunHooks):
    """What the benchmark adds to ``run_recbole_hnlm``: a sparser training share, the probes, popularity metrics."""

    def __init__(self, cell, probes, echo=None):
        self.cell = cell
        self.probes = set(probes)
        self.echo = echo
        self.out = {}
        self.negative_log = None

    def after_prepare(self, config, train_data, valid_data, test_data):
        full = len(train_data.dataset.inter_feat)
        ratio = self.cell.config.get("bench_train_ratio")
        if ratio is not None and float(ratio) < 1:
            train_data = subsample_train(config, train_data, float(ratio), config["seed"])
        self.out.update(train_interactions=len(train_data.dataset.inter_feat), train_interactions_full=full,
                        data_seed=config["seed"], valid_metric=config["valid_metric"],
                        valid_metric_bigger=bool(config["valid_metric_bigger"]))
        return train_data

    def before_fit(self, config, model, trainer, train_data, valid_data, test_data):
        from recbole_hnlm.benchmark.analyses import EpochEcho, NegativeLog

        backbones = recbole_backbones(type(model))
        self.out["backbone"] = backbones[0].__name__ if backbones else type(model).__name__
        self.out["parameters"] = int(sum(p.numel() for p in model.parameters()))
        if self.echo is not None:
            trainer.listeners.append(EpochEcho(self.echo))
        if "fhns" in self.probes:
            self.negative_log = NegativeLog(model, test_data, train_data.dataset, n_hard=config["n_hard"])
            trainer.listeners.append(self.negative_log)

    def after_test(self, config, model, trainer, train_data, valid_data, test_data):
        from recbole_hnlm.benchmark.analyses import popularity_metrics

        self.out["popularity"] = popularity_metrics(model, train_data.dataset, test_data, list(config["topk"]))
        return {}


def execute_cell(cell, probes=(), isolated=False, threads=None, echo=None):
    """Train and evaluate one cell in this process; returns its record (``status: ok``).

    ``echo``: called with one line per epoch (the child process prints them to the cell's log).
    """
    import resource

    import torch

    from recbole_hnlm.benchmark.analyses import PeakRSS

    if threads:
        torch.set_num_threads(int(threads))
    started = time.time()
    hooks = CellHooks(cell, probes, echo)
    config_dict = cell.recbole_config()
    ckpt = tempfile.mkdtemp(prefix="hnlm-bench-ckpt-")
    config_dict["checkpoint_dir"] = ckpt
    try:
        with PeakRSS() as rss:
            result = run_recbole_hnlm(cell.model, cell.dataset, config_dict=config_dict, saved=True, hooks=hooks)
    finally:
        shutil.rmtree(ckpt, ignore_errors=True)
    valid = result["valid_curve"]
    bigger = hooks.out.get("valid_metric_bigger", True)
    best = (max if bigger else min)(valid, key=lambda v: v["score"]) if valid else None
    record = {
        "schema": SCHEMA, "status": "ok", "dataset": cell.dataset, "model": cell.model, "variant": cell.variant,
        "run": cell.run.name, "seed": cell.seed, "fingerprint": cell.fingerprint(), "config": cell.config,
        "meta": cell.run.meta, "sweep": cell.run.sweep, "sweep_value": cell.run.sweep_value,
        "best_valid_score": float(result["best_valid_score"]),
        "best_valid_result": {k: float(v) for k, v in result["best_valid_result"].items()},
        "test_result": {k: float(v) for k, v in result["test_result"].items()},
        "best_epoch": best["epoch"] if best else None,
        "epochs_run": len(result["epoch_seconds"]),
        "epoch_seconds": result["epoch_seconds"],
        "train_loss": result["train_loss"],
        "valid_curve": valid,
        "fhns": hooks.negative_log.epochs if hooks.negative_log else None,
        "memory": {
            "rss_start_mb": rss.start / 2**20, "peak_rss_mb": rss.peak / 2**20,
            "peak_growth_mb": (rss.peak - rss.start) / 2**20, "isolated": bool(isolated),
            "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
        "wall_seconds": time.time() - started,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "env": environment(),
    }
    record.update(hooks.out)
    return record


def failure_record(cell, error, tb, wall):
    return {"schema": SCHEMA, "status": "failed", "dataset": cell.dataset, "model": cell.model,
            "variant": cell.variant, "run": cell.run.name, "seed": cell.seed, "fingerprint": cell.fingerprint(),
            "config": cell.config, "error": error, "traceback": tb, "wall_seconds": wall,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


_ENV = None


def environment():
    """Versions and machine of this process (no host names, no user names)."""
    global _ENV
    if _ENV is None:
        import numpy
        import recbole
        import torch

        cpu = platform.processor() or ""
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
        except OSError:
            pass
        _ENV = {"python": platform.python_version(), "torch": torch.__version__, "recbole": recbole.__version__,
                "numpy": numpy.__version__, "platform": platform.platform(), "cpu": cpu,
                "cpu_count": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}
    env = dict(_ENV)
    import torch

    env["torch_threads"] = torch.get_num_threads()
    env["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    return env


def _run_in_child(cell, probes, store, timeout, threads):
    """Run one cell in ``python -m recbole_hnlm.benchmark _cell``; returns its record."""
    started = time.time()
    work = tempfile.mkdtemp(prefix="hnlm-bench-cell-")
    spec, out = os.path.join(work, "spec.json"), os.path.join(work, "record.json")
    write_record(spec, {"cell": cell_to_dict(cell), "probes": list(probes), "threads": threads})
    log_path = store.log_path(cell)
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    try:
        with open(log_path, "w", encoding="utf-8") as log:
            proc = subprocess.Popen([sys.executable, "-m", "recbole_hnlm.benchmark", "_cell", spec, out],
                                    stdout=log, stderr=subprocess.STDOUT)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                return failure_record(cell, f"timeout: still running after {timeout:.0f} s (--cell-timeout)", "",
                                      time.time() - started)
            except BaseException:  # interrupted (Ctrl-C, SIGTERM): the cell is lost, not left running
                proc.kill()
                proc.wait()
                raise
        if code == 0 and os.path.isfile(out):
            with open(out, encoding="utf-8") as f:
                return json.load(f)
        if os.path.isfile(out):  # the child caught the error and wrote a failure record
            with open(out, encoding="utf-8") as f:
                return json.load(f)
        with open(log_path, encoding="utf-8", errors="replace") as f:
            tail = f.read()[-4000:]
        return failure_record(cell, f"the cell's process exited with status {code}; log: {log_path}", tail,
                              time.time() - started)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def child_main(spec_path, out_path):
    """Entry point of a cell's child process (``python -m recbole_hnlm.benchmark _cell SPEC OUT``)."""
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    cell = cell_from_dict(spec["cell"])
    started = time.time()
    try:
        record = execute_cell(cell, spec.get("probes") or (), isolated=True, threads=spec.get("threads"),
                              echo=lambda line: print(line, flush=True))
    except Exception as e:  # recorded, the parent goes on with the next cell
        traceback.print_exc()
        record = failure_record(cell, f"{type(e).__name__}: {e}", traceback.format_exc(), time.time() - started)
    write_record(out_path, record)
    return 0 if record["status"] == "ok" else 1


# ----- a grid -------------------------------------------------------------------------------------
def run_grid(grid, results_dir="results", overrides=None, seeds=None, datasets=None, only=None,
             max_time=None, isolation="process", cell_timeout=None, threads=None, rerun_stale=False,
             dry_run=False, progress=True, order="run"):
    """Run every cell of ``grid`` that has no finished record; returns a summary dict.

    ``max_time`` (seconds, for this call): no new cell starts once it is spent (the cell in hand
    finishes; run again to resume). ``cell_timeout`` (process isolation only) stops a cell that
    runs longer and records it as failed. ``rerun_stale`` recomputes cells whose record was made
    with another config (by default they are kept, and reported as stale).
    """
    from tqdm import tqdm

    if isolation not in ("process", "inline"):
        raise ValueError(f"isolation must be 'process' or 'inline', got {isolation!r}")
    store = RawStore(results_dir)
    cells = grid.cells(overrides, seeds=seeds, datasets=datasets, only=only, order=order)
    summary = {"cells": len(cells), "done_before": 0, "ran": 0, "failed": 0, "missing_input": 0,
               "stale": 0, "left": 0, "seconds": 0.0}
    todo = []
    for cell in cells:
        status = cell_status(cell, store)
        if status == "done" or (status == "stale" and not rerun_stale):
            summary["done_before"] += 1
            if status == "stale":
                summary["stale"] += 1
                logger.warning("%s: finished with another config; kept (use --rerun-stale to redo)", cell.label)
        elif status == "missing-input":
            summary["missing_input"] += 1
            logger.warning("%s: skipped, missing %s", cell.label, ", ".join(missing_requirements(cell)))
        else:
            todo.append(cell)
    logger.info("grid %s: %d cells, %d finished before, %d to run, %d skipped (missing input)",
                grid.name, len(cells), summary["done_before"], len(todo), summary["missing_input"])
    if dry_run:
        for cell in todo:
            print(f"would run {cell.label}  ({json.dumps(cell.config, sort_keys=True, default=str)})")
        summary["left"] = len(todo)
        return summary
    start = time.time()
    bar = tqdm(total=len(todo), desc=f"grid {grid.name}", unit="cell", disable=not progress, file=sys.stderr)
    for i, cell in enumerate(todo):
        elapsed = time.time() - start
        if max_time is not None and elapsed >= max_time:
            summary["left"] = len(todo) - i
            logger.warning("time budget of %.0f s spent after %d cells; %d left (run again to resume)",
                           max_time, i, summary["left"])
            break
        bar.set_postfix_str(cell.label)
        t0 = time.time()
        if isolation == "process":
            record = _run_in_child(cell, grid.probes, store, cell_timeout, threads)
        else:
            try:
                record = execute_cell(cell, grid.probes, isolated=False, threads=threads)
            except Exception as e:
                record = failure_record(cell, f"{type(e).__name__}: {e}", traceback.format_exc(), time.time() - t0)
        store.write(cell, record)
        store.write_csv()
        if record["status"] == "ok":
            summary["ran"] += 1
            test = record["test_result"]
            msg = (f"{cell.label}: {len(record['epoch_seconds'])} epochs (best {record['best_epoch']}), "
                   f"test ndcg@20 {test.get('ndcg@20', float('nan')):.4f}, {time.time() - t0:.0f} s")
        else:
            summary["failed"] += 1
            msg = f"{cell.label}: FAILED ({record['error']}); record: {store.path(cell, failed=True)}"
        bar.update(1)
        (logger.info if record["status"] == "ok" else logger.error)(msg)
        if not progress:
            print(msg, file=sys.stderr, flush=True)
    bar.close()
    summary["seconds"] = time.time() - start
    return summary


def status_rows(grid, results_dir="results", overrides=None, seeds=None, datasets=None, only=None):
    """``[(cell, status)]`` for every cell of the grid."""
    store = RawStore(results_dir)
    return [(c, cell_status(c, store)) for c in grid.cells(overrides, seeds=seeds, datasets=datasets, only=only)]


__all__ = ["RawStore", "run_grid", "execute_cell", "status_rows", "cell_status", "subsample_train"]

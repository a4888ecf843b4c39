"""End to end: a tiny grid trained for real (demo set, 2 models, 2 seeds, 1 epoch), then its report."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from recbole_hnlm.benchmark.grid import parse_grid
from recbole_hnlm.benchmark.report import write_report
from recbole_hnlm.benchmark.runner import RawStore, run_grid, subsample_train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_grid(data_root, datasets=("hnlm-demo",), runs=None, seeds=2, **config):
    cfg = {"data_path": str(data_root), "epochs": 1, "train_batch_size": 4096}
    cfg.update(config)
    return parse_grid({
        "name": "tiny",
        "datasets": list(datasets),
        "seeds": seeds,
        "config": cfg,
        # the HNLM model with its semantic terms off is LightGCN, number for number (no features needed)
        "variants": {"LightGCN_HNLM:off": {"mix_alpha": 0, "align_weight": 0, "anchor_weight": 0, "neg_sampler": "rns"}},
        "runs": runs or ["LightGCN", "LightGCN_HNLM:off"],
        "probes": ["fhns"],
        "report": {} if runs else {"overall": {"target": "LightGCN_HNLM:off", "baselines": ["LightGCN"]}},
    }, "tiny.yaml")


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    grid = tiny_grid(root / "atomic_data")
    results = str(root / "results")
    summary = run_grid(grid, results, isolation="inline", progress=False)
    return grid, results, summary


def test_tiny_grid_runs_every_cell(tiny_results):
    grid, results, summary = tiny_results
    assert (summary["ran"], summary["failed"]) == (4, 0), summary
    store = RawStore(results)
    records = {(r["run"], r["seed"]): r for r in store.records()}
    assert set(records) == {("LightGCN", 1), ("LightGCN", 2), ("LightGCN_HNLM:off", 1), ("LightGCN_HNLM:off", 2)}
    for r in records.values():
        assert r["status"] == "ok" and r["epochs_run"] == 1 and len(r["epoch_seconds"]) == 1
        assert len(r["valid_curve"]) == 1 and r["best_epoch"] == 0
        assert r["backbone"] == "LightGCN"
        # the per-group metrics come from the same ranking as RecBole's: "all" is its test result
        for m, v in r["test_result"].items():
            assert r["popularity"]["groups"]["all"][m] == pytest.approx(v, abs=6e-5)
        assert len(r["fhns"]) == 1 and 0 <= r["fhns"][0]["rate"] < 0.05
        assert r["memory"]["peak_rss_mb"] > 0
    # the split does not depend on the model seed ...
    g1 = records[("LightGCN", 1)]["popularity"]["groups"]
    g2 = records[("LightGCN", 2)]["popularity"]["groups"]
    assert {g: v["n_test_interactions"] for g, v in g1.items()} == {g: v["n_test_interactions"] for g, v in g2.items()}
    assert records[("LightGCN", 1)]["train_interactions"] == records[("LightGCN", 2)]["train_interactions"]
    # ... but the model seed changes the model
    assert records[("LightGCN", 1)]["test_result"] != records[("LightGCN", 2)]["test_result"]
    # and a seed is a seed: LightGCN_HNLM with its terms off equals LightGCN, seed by seed
    for seed in (1, 2):
        assert records[("LightGCN_HNLM:off", seed)]["test_result"] == records[("LightGCN", seed)]["test_result"]


def test_tiny_grid_is_not_rerun(tiny_results):
    grid, results, _ = tiny_results
    again = run_grid(grid, results, isolation="inline", progress=False)
    assert (again["done_before"], again["ran"]) == (4, 0)


def test_tiny_grid_report(tiny_results):
    grid, results, _ = tiny_results
    written = write_report(grid, results)
    md = open(os.path.join(results, "tiny.md"), encoding="utf-8").read()
    for title in ("Overall performance, hnlm-demo", "Popularity groups", "Convergence", "False hard negatives",
                  "Efficiency", "Offline stages"):
        assert title in md
    assert "p-value, paired t-test" in md and "†" in md
    csv_lines = open(os.path.join(results, "tiny.csv"), encoding="utf-8").read().strip().splitlines()
    assert len(csv_lines) == 5
    pngs = [p for p in written if p.endswith(".png")]
    pytest.importorskip("matplotlib")
    assert {os.path.basename(p) for p in pngs} >= {"popularity_hnlm-demo.png", "convergence_hnlm-demo.png",
                                                    "fhns_hnlm-demo.png"}


def test_a_grid_cell_is_the_command_line_run(tmp_path, monkeypatch):
    """One training path: a grid cell and the same command line give identical metrics, with train_seed != seed,
    on a model whose projector, sampler and batch order all depend on the training seed."""
    from recbole_hnlm.benchmark.runner import execute_cell
    from recbole_hnlm.quick_start import main

    grid = tiny_grid(tmp_path / "atomic_data", runs=["LightGCN_HNLM", "LightGCN_DNS"], seeds=[3], seed=2020,
                     epochs=2)
    for cell in grid.cells():
        record = execute_cell(cell)
        config = dict(cell.recbole_config(), checkpoint_dir=str(tmp_path / "saved"))
        assert config["train_seed"] == 3 and config["seed"] == 2020
        argv = [f"--model={cell.model}", f"--dataset={cell.dataset}"] + [
            f"--{k}={v}" if isinstance(v, str) else f"--{k}={v!r}" for k, v in config.items()]
        monkeypatch.setattr(sys, "argv", ["run_recbole_hnlm.py", *argv])  # RecBole's Config reads sys.argv
        direct = main(argv)
        assert record["test_result"] == direct["test_result"], cell.model
        assert record["best_valid_result"] == direct["best_valid_result"], cell.model
        assert record["train_loss"] == pytest.approx(direct["train_loss"], rel=1e-6), cell.model  # summation order


def test_subsample_train_keeps_valid_and_test(tmp_path):
    from recbole_hnlm.quick_start import prepare

    cfg = {"data_path": str(tmp_path / "atomic_data"), "show_progress": False, "state": "WARNING"}
    config, _, train, valid, test = prepare("LightGCN", None, config_dict=cfg)
    n = len(train.dataset.inter_feat)
    half = subsample_train(config, train, 0.5, seed=config["seed"])
    fifth = subsample_train(config, train, 0.2, seed=config["seed"])
    assert len(half.dataset.inter_feat) == round(0.5 * n) and len(fifth.dataset.inter_feat) == round(0.2 * n)

    def pairs(loader):
        ds = loader.dataset
        return set(zip(ds.inter_feat[ds.uid_field].tolist(), ds.inter_feat[ds.iid_field].tolist()))

    assert pairs(fifth) < pairs(half) < pairs(train)        # nested subsets of the training split
    assert pairs(subsample_train(config, train, 0.5, seed=config["seed"])) == pairs(half)
    assert len(list(half)) > 0                              # the new loader iterates (with negatives)
    with pytest.raises(ValueError):
        subsample_train(config, train, 0.0, seed=1)


@pytest.mark.slow
def test_process_isolation_and_command_line(tmp_path):
    """The default isolation (one child process per cell) through the command line, then the report."""
    grid_path = tmp_path / "g.yaml"
    grid_path.write_text(json.dumps({
        "name": "cli", "datasets": ["hnlm-demo"], "seeds": 1,
        "config": {"data_path": str(tmp_path / "atomic_data"), "train_batch_size": 4096},
        "runs": ["LightGCN"],
    }))
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "recbole_hnlm.benchmark", "run", str(grid_path), "--results", str(results),
           "--epochs", "1", "--no-progress", "--report"]
    done = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.load(open(results / "raw" / "hnlm-demo" / "LightGCN-default-seed1.json"))
    assert record["memory"]["isolated"] is True and record["epochs_run"] == 1
    assert "epoch 1:" in open(results / "raw" / "hnlm-demo" / "logs" / "LightGCN-default-seed1.log").read()
    assert (results / "cli.md").is_file()
    done = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    assert "ran 0" in done.stdout


@pytest.mark.real_data
@pytest.mark.slow
def test_ml100k_one_epoch(ml100k_root, tmp_path):
    """ml-100k through the grid (1 seed, 1 epoch, 2 models incl. RecBole's dynamic DNS)."""
    grid = parse_grid({
        "name": "ml", "datasets": ["ml-100k"], "seeds": 1,
        "config": {"data_path": str(ml100k_root), "epochs": 1},
        "variants": {"LightGCN:recbole-dns": {"train_neg_sample_args": {
            "distribution": "uniform", "sample_num": 1, "alpha": 1.0, "dynamic": True, "candidate_num": 8}}},
        "runs": ["LightGCN", "LightGCN:recbole-dns"],
        "sweeps": {"sparsity": {"key": "bench_train_ratio", "values": [0.5, 1.0], "default": 1.0,
                                "runs": ["LightGCN"]}},
        "probes": ["fhns"],
    })
    summary = run_grid(grid, str(tmp_path / "results"), isolation="inline", progress=False)
    assert (summary["ran"], summary["failed"]) == (3, 0)
    recs = {r["run"]: r for r in RawStore(str(tmp_path / "results")).records()}
    assert recs["LightGCN:sparsity0.5"]["train_interactions"] == round(0.5 * recs["LightGCN"]["train_interactions"])
    groups = recs["LightGCN"]["popularity"]["groups"]
    assert groups["unpopular"]["n_items"] == round(0.8 * 1682) and groups["popular"]["n_items"] == round(0.05 * 1682)
    assert np.isfinite(recs["LightGCN:recbole-dns"]["fhns"][0]["rate"])
    write_report(grid, str(tmp_path / "results"))
    text = (tmp_path / "results" / "ml.md").read_text(encoding="utf-8")
    for ratio, run in ((0.5, "LightGCN:sparsity0.5"), (1.0, "LightGCN")):  # 1.0 is the main run's cell
        rec = recs[run]["test_result"]
        assert f"| {ratio} | {rec['ndcg@20']:.4f} | {rec['recall@20']:.4f} |" in text

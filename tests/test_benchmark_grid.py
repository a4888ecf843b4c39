"""Grid files and the resumable runner of the benchmark suite (no training: execute_cell is stubbed)."""
import glob
import json
import os

import pytest

from recbole_hnlm.benchmark import runner
from recbole_hnlm.benchmark.grid import GridError, load_grid, parse_grid, parse_override

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small_grid(**extra):
    data = {
        "name": "t",
        "datasets": ["hnlm-demo"],
        "seeds": 2,
        "config": {"epochs": 3},
        "variants": {"LightGCN_HNLM:alpha0": {"mix_alpha": 0}},
        "runs": ["LightGCN", "LightGCN_HNLM:alpha0"],
    }
    data.update(extra)
    return parse_grid(data, "t.yaml")


def test_cells_and_names():
    grid = small_grid()
    cells = grid.cells()
    assert [c.label for c in cells] == [
        "hnlm-demo/LightGCN-default-seed1", "hnlm-demo/LightGCN-default-seed2",
        "hnlm-demo/LightGCN_HNLM-alpha0-seed1", "hnlm-demo/LightGCN_HNLM-alpha0-seed2",
    ]
    c = cells[2]
    assert c.config["mix_alpha"] == 0 and c.config["epochs"] == 3 and c.config["train_seed"] == 1
    assert c.run.name == "LightGCN_HNLM:alpha0"
    # the data seed is not touched: every cell keeps RecBole's seed; only train_seed varies
    assert "seed" not in c.config
    assert cells[0].fingerprint() != cells[1].fingerprint()
    # command-line overrides win over the grid and the variant
    assert grid.cells({"epochs": 1, "mix_alpha": 0.5})[2].config["mix_alpha"] == 0.5
    assert [c.seed for c in grid.cells(seeds=[2])] == [2, 2]
    assert len(grid.cells(only=["*/LightGCN_HNLM-*"])) == 2


def test_sweeps_expand_and_reuse_the_default():
    grid = small_grid(
        runs=["LightGCN", "LightGCN_HNLM"],
        sweeps={"alpha": {"key": "mix_alpha", "values": [0.0, 0.2, 0.5], "default": 0.2,
                          "runs": ["LightGCN_HNLM"], "seeds": [1]}},
    )
    names = [r.name for r in grid.runs]
    assert names == ["LightGCN", "LightGCN_HNLM", "LightGCN_HNLM:alpha0.0", "LightGCN_HNLM:alpha0.5"]
    points = grid.sweep_runs("alpha")["LightGCN_HNLM"]
    assert [(v, r.name) for v, r in points] == [
        (0.0, "LightGCN_HNLM:alpha0.0"), (0.2, "LightGCN_HNLM"), (0.5, "LightGCN_HNLM:alpha0.5")]
    # the sweep's own cells use its seeds; the default value is the main run (all grid seeds)
    labels = [c.label for c in grid.cells()]
    assert "hnlm-demo/LightGCN_HNLM-alpha0.5-seed1" in labels
    assert "hnlm-demo/LightGCN_HNLM-alpha0.5-seed2" not in labels
    assert "hnlm-demo/LightGCN_HNLM-default-seed2" in labels


@pytest.mark.parametrize("change, message", [
    ({"datasets": []}, "'datasets'"),
    ({"runs": ["LightGCN:nowhere"]}, "defined neither"),
    ({"runs": ["LightGCN", "LightGCN"]}, "listed twice"),
    ({"runs": ["Light GCN"]}, "names may hold"),
    ({"seeds": 0}, "seeds"),
    ({"seeds": [1, 1]}, "repeated"),
    ({"config": {"train_seed": 3}}, "train_seed"),
    ({"probes": ["nope"]}, "unknown probes"),
    ({"colour": 1}, "unknown keys"),
    ({"report": {"overall": {"target": "MF_HNLM"}}}, "not a run"),
    ({"sweeps": {"a": {"key": "mix_alpha", "values": [1], "runs": ["BPR"]}}}, "not listed"),
])
def test_grid_errors_name_the_problem(change, message):
    with pytest.raises(GridError, match=message):
        small_grid(**change)


def test_shipped_grids_parse():
    paths = sorted(glob.glob(os.path.join(ROOT, "benchmarks", "grids", "*.yaml")))
    assert paths
    for path in paths:
        grid = load_grid(path)
        assert grid.cells()


def test_parse_override():
    assert parse_override("epochs=5") == ("epochs", 5)
    assert parse_override("--topk=[10, 20]") == ("topk", [10, 20])
    with pytest.raises(GridError):
        parse_override("epochs")
    with pytest.raises(GridError):
        parse_override("train_seed=3")


# ----- resumption ---------------------------------------------------------------------------------
def fake_record(cell, value=0.1):
    return {"status": "ok", "dataset": cell.dataset, "model": cell.model, "variant": cell.variant,
            "run": cell.run.name, "seed": cell.seed, "fingerprint": cell.fingerprint(), "config": cell.config,
            "test_result": {"ndcg@20": value}, "best_valid_result": {}, "epoch_seconds": [1.0],
            "best_epoch": 0, "memory": {"peak_rss_mb": 10.0}}


def test_finished_cells_are_not_rerun(tmp_path, monkeypatch):
    calls = []

    def fake_execute(cell, probes=(), isolated=False, threads=None, echo=None):
        calls.append(cell.label)
        if cell.model == "LightGCN_HNLM" and cell.seed == 2 and len(calls) < 5:
            raise RuntimeError("boom")
        return fake_record(cell)

    monkeypatch.setattr(runner, "execute_cell", fake_execute)
    grid = small_grid()
    results = str(tmp_path / "results")
    s1 = runner.run_grid(grid, results, isolation="inline", progress=False)
    assert (s1["ran"], s1["failed"]) == (3, 1)
    failed = os.path.join(results, "raw", "hnlm-demo", "LightGCN_HNLM-alpha0-seed2.failed.json")
    with open(failed) as f:
        assert "boom" in json.load(f)["error"]
    assert len(calls) == 4
    # second run: only the failed cell runs again; its success replaces the failure record
    s2 = runner.run_grid(grid, results, isolation="inline", progress=False)
    assert (s2["done_before"], s2["ran"], s2["failed"]) == (3, 1, 0)
    assert calls[4:] == ["hnlm-demo/LightGCN_HNLM-alpha0-seed2"]
    assert not os.path.exists(failed)
    # third run: nothing to do
    s3 = runner.run_grid(grid, results, isolation="inline", progress=False)
    assert (s3["done_before"], s3["ran"]) == (4, 0) and len(calls) == 5
    # the raw CSV holds the four records
    with open(os.path.join(results, "raw", "runs.csv")) as f:
        assert len(f.read().strip().splitlines()) == 5
    # another config makes the records stale: kept unless asked
    s4 = runner.run_grid(grid, results, overrides={"epochs": 9}, isolation="inline", progress=False)
    assert (s4["stale"], s4["ran"]) == (4, 0)
    s5 = runner.run_grid(grid, results, overrides={"epochs": 9}, isolation="inline", progress=False,
                         rerun_stale=True, only=["*/LightGCN-default-seed1"])
    assert s5["ran"] == 1 and calls[-1] == "hnlm-demo/LightGCN-default-seed1"


def test_time_budget_stops_between_cells(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "execute_cell", lambda cell, *a, **k: fake_record(cell))
    summary = runner.run_grid(small_grid(), str(tmp_path), isolation="inline", progress=False, max_time=0)
    assert summary["ran"] == 0 and summary["left"] == 4


def test_missing_inputs_are_skipped_not_failed(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "execute_cell", lambda cell, *a, **k: fake_record(cell))
    grid = small_grid(runs=["LightGCN", {"run": "LightGCN_HNLM:ft", "config": {"hnlm_feature": "ft"},
                                         "requires": ["hnlm/ft/meta.json"]}],
                      config={"data_path": str(tmp_path / "data")})
    summary = runner.run_grid(grid, str(tmp_path / "res"), isolation="inline", progress=False)
    assert (summary["ran"], summary["missing_input"], summary["failed"]) == (2, 2, 0)
    statuses = dict((c.label, s) for c, s in runner.status_rows(grid, str(tmp_path / "res")))
    assert statuses["hnlm-demo/LightGCN_HNLM-ft-seed1"] == "missing-input"


def test_records_are_written_atomically(tmp_path):
    path = str(tmp_path / "a" / "b.json")
    runner.write_record(path, {"x": 1})
    assert json.load(open(path)) == {"x": 1}
    assert os.listdir(tmp_path / "a") == ["b.json"]


def test_sweep_point_listed_as_a_run_is_shared():
    grid = small_grid(
        runs=["LightGCN_HNLM", {"run": "LightGCN_HNLM:alpha0.0", "config": {"mix_alpha": 0.0}}],
        sweeps={"alpha": {"key": "mix_alpha", "values": [0.0, 0.5], "runs": ["LightGCN_HNLM"], "seeds": [1]}},
    )
    assert [r.name for r in grid.runs] == ["LightGCN_HNLM", "LightGCN_HNLM:alpha0.0", "LightGCN_HNLM:alpha0.5"]
    # the shared point keeps the seeds of its own entry (all the grid's), the sweep's own point has one
    seeds = {}
    for c in grid.cells():
        seeds.setdefault(c.run.name, []).append(c.seed)
    assert seeds["LightGCN_HNLM:alpha0.0"] == [1, 2] and seeds["LightGCN_HNLM:alpha0.5"] == [1]
    with pytest.raises(GridError, match="another config"):
        small_grid(runs=["LightGCN_HNLM", {"run": "LightGCN_HNLM:alpha0.0", "config": {"mix_alpha": 0.1}}],
                   sweeps={"alpha": {"key": "mix_alpha", "values": [0.0], "runs": ["LightGCN_HNLM"]}})


def test_seed_order_runs_every_model_before_the_next_seed():
    grid = small_grid(
        runs=["LightGCN", "LightGCN_HNLM"],
        sweeps={"alpha": {"key": "mix_alpha", "values": [0.5], "runs": ["LightGCN_HNLM"]}},
    )
    labels = [c.label.split("/")[1] for c in grid.cells(order="seed")]
    assert labels == ["LightGCN-default-seed1", "LightGCN_HNLM-default-seed1", "LightGCN-default-seed2",
                      "LightGCN_HNLM-default-seed2", "LightGCN_HNLM-alpha0.5-seed1", "LightGCN_HNLM-alpha0.5-seed2"]

"""The report's tables from hand-made records (no training)."""
import math
import os

import pytest

from recbole_hnlm.benchmark.grid import parse_grid
from recbole_hnlm.benchmark.report import Results, ablation_table, efficiency_section, overall_table, write_report
from recbole_hnlm.benchmark.runner import RawStore

# test NDCG@20 per run and seed; Recall@20 = NDCG@20 + 0.1 except where noted
NDCG = {
    "LightGCN": {1: 0.20, 2: 0.22, 3: 0.21},
    "LightGCN_DNS": {1: 0.25, 2: 0.26, 3: 0.24},
    "LightGCN_HNLM": {1: 0.27, 2: 0.29, 3: 0.27},
}
RECALL = {  # here LightGCN is the best baseline on Recall@20
    "LightGCN": {1: 0.40, 2: 0.40, 3: 0.40},
    "LightGCN_DNS": {1: 0.35, 2: 0.36, 3: 0.34},
    "LightGCN_HNLM": {1: 0.41, 2: 0.43, 3: 0.42},
}


def make_grid(tmp_path):
    return parse_grid({
        "name": "hand", "datasets": ["toy"], "seeds": 3,
        "config": {"data_path": str(tmp_path / "data")},
        "variants": {"LightGCN_HNLM:noalign": {"align_weight": 0.0}},
        "runs": ["LightGCN", "LightGCN_DNS", "LightGCN_HNLM", "LightGCN_HNLM:noalign",
                 {"run": "LightGCN_HNLM:stage1", "config": {"hnlm_feature": "llm-item"},
                  "requires": ["hnlm/llm-item/meta.json"]}],
        "report": {"ablation": {"full": "LightGCN_HNLM",
                                "rows": {"w/o Align": "LightGCN_HNLM:noalign",
                                         "w/o SCFT": "LightGCN_HNLM:stage1"}}},
    }, "hand.yaml")


def write_records(grid, results):
    store = RawStore(results)
    for cell in grid.cells():
        run = cell.run.name
        if run not in NDCG:
            continue
        ndcg, recall = NDCG[run][cell.seed], RECALL[run][cell.seed]
        spe = {"LightGCN": 2.0, "LightGCN_DNS": 3.0, "LightGCN_HNLM": 5.0}[run]
        store.write(cell, {
            "status": "ok", "dataset": cell.dataset, "model": cell.model, "variant": cell.variant, "run": run,
            "seed": cell.seed, "fingerprint": cell.fingerprint(), "config": cell.config, "backbone": "LightGCN",
            "test_result": {"recall@10": recall / 2, "recall@20": recall, "ndcg@10": ndcg / 2, "ndcg@20": ndcg},
            "best_valid_result": {"ndcg@20": ndcg}, "best_valid_score": ndcg, "best_epoch": 4, "epochs_run": 10,
            "epoch_seconds": [spe] * 10, "memory": {"peak_rss_mb": 100.0 * spe, "peak_growth_mb": 10.0,
                                                    "isolated": True},
            "valid_curve": [{"epoch": e, "score": ndcg * (e + 1) / 10} for e in range(10)], "parameters": 1000,
        })


def test_overall_table_marks_best_baseline_and_tests_against_it(tmp_path):
    grid = make_grid(tmp_path)
    results = str(tmp_path / "results")
    write_records(grid, results)
    res = Results(grid, results)
    md, numbers = overall_table(res, "toy")
    # the best baseline is chosen per column
    assert numbers["best_baseline"]["ndcg@20"] == "LightGCN_DNS"
    assert numbers["best_baseline"]["recall@20"] == "LightGCN"
    # HNLM 0.27667 vs DNS 0.25: +10.667 %; differences 0.02, 0.03, 0.03 -> t = 0.026667 / (0.005774 / sqrt 3) = 8.0
    assert numbers["improvement"]["ndcg@20"] == pytest.approx(100 * (0.83 / 3 - 0.25) / 0.25)
    t, p, n = numbers["ttest"]["ndcg@20"]
    assert (t, n) == (pytest.approx(8.0), 3)
    assert p == pytest.approx(1 - 8 / math.sqrt(66))     # df = 2: p = 1 - t / sqrt(t^2 + 2)
    # Recall@20 against LightGCN (0.40 every seed): differences 0.01, 0.03, 0.02 -> t = 0.02 / (0.01 / sqrt 3)
    assert numbers["ttest"]["recall@20"][0] == pytest.approx(2 * math.sqrt(3))
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("|")}
    assert "0.2500 ± 0.0100 †" in rows["LightGCN_DNS"]           # best baseline of NDCG@20
    assert "**0.4000 ± 0.0000** †" not in rows["LightGCN"]       # HNLM is the best of the column
    assert "0.4000 ± 0.0000 †" in rows["LightGCN"]
    assert "**0.2767 ± 0.0115**" in rows["**LightGCN_HNLM**"]
    assert "+10.67%" in rows["improvement (%)"]
    assert "0.015*" in rows["p-value, paired t-test"]           # p = 0.0153 for NDCG@20
    # ablation rows are not baselines (auto baselines: the non-HNLM runs)
    assert "LightGCN_HNLM:noalign" not in md


def test_ablation_names_missing_inputs(tmp_path):
    grid = make_grid(tmp_path)
    results = str(tmp_path / "results")
    write_records(grid, results)
    md = ablation_table(Results(grid, results), "toy")
    assert "not run: missing" in md and "llm-item/meta.json" in md
    assert "not run yet" in md  # noalign has no records


def test_efficiency_is_relative_to_the_backbone(tmp_path):
    grid = make_grid(tmp_path)
    results = str(tmp_path / "results")
    write_records(grid, results)
    md = efficiency_section(Results(grid, results), "toy")
    row = next(line for line in md.splitlines() if line.startswith("| LightGCN_HNLM |"))
    cells = [c.strip() for c in row.split("|")]
    assert cells[4] == "5.00 ± 0.00" and cells[5] == "2.50" and cells[7] == "2.50"   # 5 s vs 2 s, 500 MB vs 200


def test_write_report_files(tmp_path):
    grid = make_grid(tmp_path)
    results = str(tmp_path / "results")
    write_records(grid, results)
    written = write_report(grid, results)
    assert os.path.join(results, "hand.md") in written and os.path.join(results, "hand.csv") in written
    md = open(os.path.join(results, "hand.md"), encoding="utf-8").read()
    assert "Overall performance, toy (Table 2)" in md and "Ablation, toy (Table 3)" in md
    assert "Cells: 15 (done 9, missing-input 3, pending 3)" in md

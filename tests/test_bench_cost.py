"""Smoke tests of benchmarks/bench_cost.py: the demo set and two tiny scales, 1 epoch each."""
import json

import pytest

from tests.test_bench_scripts import run_script


def test_bench_cost_smoke_prints_ratios_to_lightgcn(tmp_path):
    out = run_script("bench_cost.py", "--smoke", "--models", "LightGCN", "HNLM", "--data_root", tmp_path / "data",
                     "--json", tmp_path / "rows.json")
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [(r["dataset"], r["row"], r["model"]) for r in rows] == [
        ("hnlm-demo", "LightGCN", "LightGCN"), ("hnlm-demo", "HNLM", "LightGCN_HNLM")]
    for r in rows:
        assert len(r["epoch_seconds"]) == len(r["epoch_cpu_seconds"]) == 1
        assert r["epoch_cpu_seconds"][0] > 0 and r["rss_peak_mb"] >= r["rss_start_mb"] > 0
    assert "| hnlm-demo | LightGCN | LightGCN | " in out and "| 1.00 |" in out
    assert (tmp_path / "data" / "hnlm-demo" / "hnlm" / "retrieval" / "meta.json").is_file()  # built beforehand


@pytest.mark.slow
def test_bench_cost_scale_smoke_draws_the_curve(tmp_path):
    png = tmp_path / "scale.png"
    out = run_script("bench_cost.py", "--smoke", "--scale", "--data_root", tmp_path / "data", "--png", png)
    for n in (3000, 6000):
        assert f"| hnlm-scale-{n} | LightGCN | LightGCN |" in out and f"| hnlm-scale-{n} | HNLM | LightGCN_HNLM |" in out
    assert png.stat().st_size > 0 and (tmp_path / "scale-rss.png").stat().st_size > 0

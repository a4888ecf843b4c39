"""Smoke test of benchmarks/bench_llm_local.py: SmolLM2 at batch 1 and 4, the embedder, the derived limit."""
import json

import pytest

from tests.test_bench_scripts import run_script


@pytest.mark.slow
def test_bench_llm_local_smoke_reports_tokens_per_second_against_the_limit(tmp_path):
    out = run_script("bench_llm_local.py", "--smoke", "--json", tmp_path / "rows.json")
    rep = json.loads((tmp_path / "rows.json").read_text())
    assert rep["gflops"] > 0 and rep["copy_gbs"] > 0 and 100e6 < rep["params"] < 200e6
    rows = rep["generation"]
    assert [r["batch_size"] for r in rows] == [1, 4]
    for r in rows:
        assert r["generated_tokens"] == 4 * 8 and r["tokens_per_s"] > 0 and r["prompt_tokens"] > 0
        step = [max(rep["params"] * rep["bytes_per_param"] / (rep["copy_gbs"] * 1e9),
                    2 * rep["params"] * b / (rep["gflops"] * 1e9)) for b in [r["batch_size"]] * (4 // r["batch_size"])]
        bound = 2 * rep["params"] * r["prompt_tokens"] / (rep["gflops"] * 1e9) + 8 * sum(step)
        assert r["limit_s"] == pytest.approx(bound) and r["share_of_limit"] == pytest.approx(bound / r["wall_s"])
        assert r["limit_tokens_per_s"] == pytest.approx(32 / bound)
    assert rep["embedder"]["texts"] == 32 and rep["embedder"]["texts_per_s"] > 0
    assert "| 4 |" in out and "texts/s" in out

"""Smoke test of benchmarks/bench_samplers.py on a copy of ml-100k (1 epoch, two samplers)."""
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.slow
@pytest.mark.real_data
def test_bench_samplers_prints_a_table(ml100k_root, tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_samplers.py"), "--datasets", "ml-100k",
         "--samplers", "rns", "dns", "recbole-dns", "--epochs", "1", "--data_root", str(ml100k_root),
         "--json", str(tmp_path / "rows.json")],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [ln for ln in out.stdout.splitlines() if ln.startswith("| ml-100k")]
    assert [r.split("|")[2].strip() for r in rows] == ["rns", "dns", "recbole-dns"]
    assert "| ml-100k | dns | LightGCN_DNS | 32 |" in out.stdout
    assert "| ml-100k | recbole-dns | LightGCN | 32 |" in out.stdout

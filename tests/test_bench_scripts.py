"""The analysis scripts in benchmarks/ run on tiny inputs and print what they measure."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from recbole_hnlm.features import write_features
from recbole_hnlm.llm.scft.teacher import TeacherData
from tests.conftest import ROOT


def run_script(path, *args, cwd=ROOT, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / path), *map(str, args)],
                         cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_feature_spread_tells_one_vector_from_orthogonal_rows(tmp_path):
    same, spread = tmp_path / "same", tmp_path / "spread"
    write_features(same, "item", [f"i{n}" for n in range(30)], np.tile([[0.6, 0.8, 0.0]], (30, 1)))
    write_features(spread, "item", [f"i{n}" for n in range(16)], np.eye(16))
    out = run_script("scft/feature_spread.py", same, spread, tmp_path / "absent", "--rows", 10)
    assert f"{same}: 30 rows, mean pairwise cosine of 10: 1.000 ± 0.000" in out
    assert f"{spread}: 16 rows, mean pairwise cosine of 10: 0.000 ± 0.000" in out
    assert f"{tmp_path / 'absent'}: missing" in out


def _teacher(path, n_users=32, per_user=4, seed=0):
    """Each user's label is an item whose CF vector points where the user's does: the teacher ceiling is 1."""
    rng = np.random.RandomState(seed)
    user_emb = rng.normal(size=(n_users + 1, 8))
    n_items = 1 + n_users + 32
    item_emb = rng.normal(size=(n_items, 8))
    item_emb[1:n_users + 1] = 3 * user_emb[1:]
    users = np.repeat(np.arange(1, n_users + 1), per_user)
    items = np.concatenate([rng.choice(np.arange(n_users + 1, n_items), per_user, replace=False)
                            for _ in range(n_users)])
    TeacherData(["[PAD]"] + [f"u{u}" for u in range(n_users)], user_emb,
                ["[PAD]"] + [f"i{i}" for i in range(n_items - 1)], item_emb,
                users, items, users, np.zeros(len(users)), {"labels": "aligned"}).save(str(path))
    return path


def test_teacher_ceiling_prints_the_teachers_own_accuracy(tmp_path):
    teacher = _teacher(tmp_path / "teacher.npz")
    out = run_script("scft/teacher_ceiling.py", teacher, "--max-pairs", 32, "--eval-pairs", 64, "--dns-m", 4, 64)
    assert f"{teacher}: labels aligned, 8 batches of 8 held-out pairs: teacher acc 1.000 (chance 0.125)" in out
    dns = re.findall(r"dns, m = (\d+): (\d+) distinct labels, \d+ batches: teacher acc ([0-9.]+)", out)
    assert [m for m, _, _ in dns] == ["4", "64"]
    assert all(0.0 <= float(acc) <= 1.0 and int(n) >= 1 for _, n, acc in dns)


def test_sampler_false_negatives_reports_every_sampler(tmp_path):
    out = run_script("sampler_false_negatives.py", "--dataset", "hnlm-demo", "--epochs", 1, "--",
                     f"--data_path={tmp_path / 'atomic_data'}", cwd=tmp_path)
    rows = re.findall(r"^\| (\w+) \| (.+?) \| ([0-9.]+)% \|$", out, flags=re.M)
    assert [name for name, _, _ in rows] == ["rns", "dns", "dns", "dns", "mixgcf", "mixgcf", "ahns"]
    assert all(0.0 <= float(share) <= 100.0 for _, _, share in rows)


def test_paired_prints_valid_and_test_differences_with_the_paired_ttest(tmp_path):
    from scipy import stats

    header = "dataset,model,variant,run,seed,valid_ndcg@20,test_ndcg@20,valid_recall@20,test_recall@20\n"
    rows = [("LightGCN_HNLM", "default", s, v) for s, v in ((1, 0.30), (2, 0.31), (3, 0.33))] + \
           [("LightGCN_HNLM", "floor1", s, v) for s, v in ((1, 0.32), (2, 0.32), (3, 0.36))]
    csv = tmp_path / "g.csv"
    csv.write_text(header + "".join(f"ml-100k,{m},{var},{m},{s},{v},{v + 0.1},{v},{v}\n" for m, var, s, v in rows))
    out = run_script("paired.py", csv, "LightGCN_HNLM:floor1", "LightGCN_HNLM")
    p = stats.ttest_rel([0.32, 0.32, 0.36], [0.30, 0.31, 0.33]).pvalue
    line = next(x for x in out.splitlines() if x.startswith("| ml-100k |"))
    assert "0.3333 ± 0.0231 vs 0.3133 ± 0.0153 (+0.0200, p " in line and f"{p:.3f}" in line and ", 3)" in line


def test_batch_cost_prints_the_cpu_time_of_a_step_per_model(tmp_path):
    out = run_script("probes/batch_cost.py", "hnlm-demo", "LightGCN", "LightGCN_HNLM@anchor_max_items=64+mix_alpha=0.2",
                     "--batches", 2, "--data_path", tmp_path / "atomic_data", cwd=tmp_path)
    rows = re.findall(r"^\| (\S+) \| ([0-9.]+) \| ([0-9.]+) \|$", out, flags=re.M)
    assert [name for name, _, _ in rows] == ["LightGCN", "LightGCN_HNLM@anchor_max_items=64+mix_alpha=0.2"]
    assert float(rows[0][2]) == 1.0 and all(float(ms) > 0 for _, ms, _ in rows)


def test_score_table_ab_prints_both_paths_of_each_model(tmp_path):
    out = run_script("probes/score_table_ab.py", "hnlm-demo", "LightGCN_DNS", "--batches", 2,
                     "--data_path", tmp_path / "atomic_data", cwd=tmp_path)
    rows = re.findall(r"^\| (\S+) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \|$", out, flags=re.M)
    assert "product up to 20x" in out
    assert [r[0] for r in rows] == ["LightGCN_DNS"]
    gather, table, ratio = map(float, rows[0][1:])
    assert gather > 0 and table > 0 and ratio == pytest.approx(table / gather, abs=0.1)  # ms printed to 0.1

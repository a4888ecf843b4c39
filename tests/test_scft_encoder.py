"""SCFT on a sentence-transformers encoder (llm/scft/encoder.py): a tiny BERT, a real 1-epoch MixGCF teacher, the demo set."""
import json
import os

import numpy as np
import pytest

from recbole_hnlm.llm.scft.encoder import ceiling
from recbole_hnlm.llm.scft.encoder_labels import cf_hard_neighbours, encoder_pairs
from recbole_hnlm.llm.scft.report import curve_rows, load_history
from recbole_hnlm.llm.scft.teacher import TeacherData
from recbole_hnlm.llm.scft.texts import load_texts
from recbole_hnlm.llm.scft.train import ResumeError
from tests.scft_tiny import build_tiny_encoder
from tests.test_scft import demo, run  # noqa: F401 -- the LLM path's demo-set fixture and command runner

SMALL = ["--scft_batch_size=4", "--scft_grad_accum=1", "--scft_max_pairs=64", "--scft_eval_pairs=32",
         "--scft_lr=1e-3", "--scft_tau=0.1", "--scft_warmup_ratio=0.0", "--scft_eval_steps=3", "--scft_save_steps=3"]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def teacher_ckpt(demo):  # noqa: F811
    from recbole_hnlm.quick_start import run_recbole_hnlm

    cfg, _, _ = demo
    res = run_recbole_hnlm(model="LightGCN_MixGCF", config_dict=dict(cfg, embedding_size=16), saved=True)
    return res["saved_model_file"]


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_item_label_is_the_cf_nearest_item_that_never_co_occurs():
    """Item 1's CF-nearest items are 2 (cos 0.99) then 3 (0.8) then 4; user 0 has both 1 and 2, so 1 -> 3.

    Item 3's nearest is 4 (cos 0.99), which user 1 also has, so 3 -> 2 (0.88). Item 5 is never trained on:
    it gets no label (it may still be one).
    """
    emb = np.array([[0, 0], [1, 0], [0.99, 0.14], [0.8, 0.6], [0.7, 0.71], [0, 1]], dtype=np.float32)
    users = np.array([0, 0, 1, 1, 2])
    items = np.array([1, 2, 3, 4, 2])
    out = cf_hard_neighbours(emb, users, items, candidates=4)
    assert out[1] == 3 and out[2] == 3 and out[3] == 2 and out[4] == 2
    assert out[0] == -1 and out[5] == -1
    assert cf_hard_neighbours(emb, users, items, candidates=1)[1] == -1  # only item 2 searched, and it co-occurs


@pytest.mark.parametrize("label", ["pair", "item"])
def test_encoder_scft_logs_accuracy_resumes_and_exports(demo, encoder, teacher_ckpt, label):  # noqa: F811
    cfg, config, _ = demo
    name = f"enc-{label}"
    args = [f"--scft_base_model=st:{encoder}", f"--scft_teacher={teacher_ckpt}", f"--scft_encoder_label={label}",
            "--scft_label_source=dns", "--scft_max_steps=6", *SMALL]
    first = run(cfg, "finetune", name, *args, "--scft_stop_after_steps=3")["finetune"]
    folder = os.path.join(config["data_path"], "scft", name)
    assert not first["finished"] and first["step"] == 3
    assert os.path.isdir(os.path.join(folder, "checkpoints", "checkpoint-3"))
    assert not os.path.exists(os.path.join(folder, "final"))

    out = run(cfg, "all", name, *args)
    second = out["finetune"]
    assert second["finished"] and second["step"] == 6 and second["new_steps"] == 3  # continued from step 3

    history = load_history(folder)
    assert [h["step"] for h in history if "loss" in h] == [1, 2, 3, 4, 5, 6]  # every step once
    evals = [h for h in history if "eval_acc" in h]
    assert [h["step"] for h in evals] == [0, 3, 6]
    teacher = TeacherData.load(os.path.join(folder, "teacher.npz"))
    texts = load_texts(os.path.join(folder, "texts.json"))
    expected_ceiling = ceiling(teacher, texts, label, batch_size=4, eval_pairs=32, seed=config["scft_seed"],
                               candidates=config["scft_encoder_candidates"])
    for h in evals:
        assert h["eval_chance"] == pytest.approx(0.25) and h["eval_pairs"] == 32
        assert h["eval_teacher_acc"] == pytest.approx(expected_ceiling)
        assert 0.0 <= h["eval_acc"] <= 1.0 and np.isfinite(h["eval_loss"])
    assert curve_rows(history, every=3)[0]["eval_acc"] == evals[0]["eval_acc"]

    export = out["export"]
    assert export["text_embedder"] == f"st:{os.path.abspath(os.path.join(folder, 'final'))}"
    assert f"--hnlm_text_embedder={export['text_embedder']}" in export["command"]
    from recbole_hnlm.features.embedder import local_text_embedder

    vec = local_text_embedder(export["text_embedder"]).encode(["red lipstick", "toy"])
    assert vec.shape == (2, 32) and np.allclose(np.linalg.norm(vec, axis=1), 1.0, atol=1e-5)
    base = local_text_embedder(f"st:{encoder}").encode(["red lipstick", "toy"])
    assert not np.allclose(vec, base, atol=1e-4)  # training moved the weights

    # the resumed run trained on the same batches as an uninterrupted one would have
    whole = run(cfg, "all", f"{name}-whole", *args)["export"]
    uncut = local_text_embedder(whole["text_embedder"]).encode(["red lipstick", "toy"])
    assert np.allclose(vec, uncut, atol=1e-5)

    # a finished run is not trained again; a run with other settings is not resumed
    assert run(cfg, "finetune", name, *args)["finetune"]["new_steps"] == 0
    with pytest.raises(ResumeError, match="scft_lr"):
        run(cfg, "finetune", name, *[a for a in args if not a.startswith("--scft_lr")], "--scft_lr=5e-4")


def test_item_labels_and_their_ceiling_on_the_real_teacher(demo, encoder, teacher_ckpt):  # noqa: F811
    cfg, config, _ = demo
    folder = os.path.join(config["data_path"], "scft", "enc-item")
    if not os.path.isfile(os.path.join(folder, "teacher.npz")):
        pytest.skip("needs the item-label run of the test above")
    teacher = TeacherData.load(os.path.join(folder, "teacher.npz"))
    texts = load_texts(os.path.join(folder, "texts.json"))
    train, held_out = encoder_pairs(teacher, texts, "item", None, 32, config["scft_seed"], config["scft_encoder_candidates"])
    both = set(zip(teacher.pair_users.tolist(), teacher.pair_items.tolist()))
    by_user = {}
    for u, i in both:
        by_user.setdefault(u, set()).add(i)
    for q, lab in zip(np.concatenate([train.query_ids, held_out.query_ids]),
                      np.concatenate([train.label_ids, held_out.label_ids])):
        assert q != lab and not any(q in s and lab in s for s in by_user.values())
    assert len(set(held_out.query_ids) & set(train.query_ids)) == 0 and len(held_out) == 32
    assert 0.0 <= ceiling(teacher, texts, "item", 4, 32, config["scft_seed"], config["scft_encoder_candidates"]) <= 1.0


def test_lightgcn_hnlm_trains_on_builtin_sets_from_the_fine_tuned_encoder(demo, encoder, teacher_ckpt):  # noqa: F811
    from recbole_hnlm.features import FeatureSet, feature_dir
    from recbole_hnlm.quick_start import run_recbole_hnlm

    cfg, config, _ = demo
    args = [f"--scft_base_model=st:{encoder}", f"--scft_teacher={teacher_ckpt}", "--scft_label_source=dns",
            "--scft_max_steps=2", *SMALL]
    out = run(cfg, "all", "enc-hnlm", *args)["export"]
    res = run_recbole_hnlm(model="LightGCN_HNLM", config_dict=dict(
        cfg, embedding_size=16, hnlm_text_embedder=out["text_embedder"]), saved=False)
    assert res["test_result"]["ndcg@20"] >= 0
    built = FeatureSet(feature_dir(config, "retrieval"))
    assert built.meta["source"]["embedder"] == out["text_embedder"] and built.meta["dim"] == 32


@pytest.mark.slow
def test_gpu_recipe_smoke_runs_end_to_end_on_cpu(tmp_path):
    """benchmarks/gpu/scft_smollm2.sh --smoke: teacher, SCFT (tiny Llama), export and LightGCN_HNLM, on CPU."""
    import subprocess

    from tests.conftest import ROOT

    out = tmp_path / "recipe"

    def recipe(stages):  # two calls sharing OUT, as when the model reaches a GPU machine in two transfers
        return subprocess.run(["sh", "benchmarks/gpu/scft_smollm2.sh", "--smoke", str(out)], cwd=ROOT,
                              env=dict(os.environ, OMP_NUM_THREADS="1", STAGES=stages), capture_output=True,
                              text=True, timeout=900)

    first = recipe("teacher")
    assert first.returncode == 0, first.stderr[-3000:]
    assert not (out / "finetune.log").exists() and first.stdout.count("test result") == 1
    done = recipe("finetune export hnlm")
    assert done.returncode == 0, done.stderr[-3000:]
    stages = [line.split()[0] for line in (out / "times.log").read_text().splitlines()]
    assert stages == ["teacher", "finetune", "export", "hnlm"]
    summary = read_json(out / "data" / "hnlm-demo" / "scft" / "smollm2-gpu" / "summary.json")
    assert summary["finished"] and summary["step"] == 4
    assert (out / "data" / "hnlm-demo" / "hnlm" / "scft-user" / "meta.json").is_file()
    assert done.stdout.count("test result") == 2 and "| 4 |" in done.stdout and (out / "curve.png").is_file()


def test_gpu_recipe_refuses_an_unknown_stage(tmp_path):
    import subprocess

    from tests.conftest import ROOT

    done = subprocess.run(["sh", "benchmarks/gpu/scft_smollm2.sh", "--smoke", str(tmp_path / "recipe")], cwd=ROOT,
                          env=dict(os.environ, STAGES="teacher finetun"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown stage 'finetun'" in done.stderr
    assert not (tmp_path / "recipe").exists()


def test_history_is_rewritten_at_every_checkpoint(tmp_path):
    from types import SimpleNamespace

    from recbole_hnlm.llm.scft.encoder import _history_on_save

    log = [{"step": 0, "eval_acc": 0.2, "eval_loss": 1.5, "epoch": 0},
           {"step": 1, "loss": 2.0, "learning_rate": 1e-4, "epoch": 0.1, "grad_norm": 3.0}]
    _history_on_save(str(tmp_path / "history.json")).on_save(None, SimpleNamespace(log_history=log), None)
    assert load_history(str(tmp_path)) == [{"step": 0, "eval_acc": 0.2, "eval_loss": 1.5},
                                           {"step": 1, "epoch": 0.1, "lr": 1e-4, "loss": 2.0}]

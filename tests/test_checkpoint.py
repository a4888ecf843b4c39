"""The one checkpoint loader (recbole_hnlm.checkpoint): crafted, corrupt and foreign files on every entry
point, real checkpoints that evaluate as in their run, the split check, and resuming from the CLI."""
import os
import pickle
import random
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from recbole.config import Config as RecBoleConfig
from recbole.data import create_dataset, data_preparation
from recbole.model.general_recommender import LightGCN
from recbole.trainer import Trainer
from recbole.utils import init_seed

from recbole_hnlm.checkpoint import TRUST_FLAG, CheckpointError, load_checkpoint, load_file, rebuild
from recbole_hnlm.llm.scft.teacher import load_teacher
from recbole_hnlm.quick_start import prepare, run_recbole_hnlm
from recbole_hnlm.utils import get_model, get_trainer
from tests.conftest import ROOT, base_config


class WritesMarker:
    """Unpickling this calls ``open(marker, "w")``: proof that loading ran code from the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo set, a LightGCN_HNLM run saved by the plugin, and a LightGCN run saved by RecBole itself."""
    root = tmp_path_factory.mktemp("ckpt") / "atomic_data"
    root.mkdir()
    hnlm = run_recbole_hnlm(model="LightGCN_HNLM", config_dict=base_config(root, epochs=2), saved=True)

    config = RecBoleConfig(model="LightGCN", dataset="hnlm-demo", config_dict=base_config(root))
    init_seed(config["seed"], config["reproducibility"])
    train, valid, test = data_preparation(config, create_dataset(config))
    trainer = Trainer(config, LightGCN(config, train.dataset).to(config["device"]))
    trainer.fit(train, valid, saved=True, show_progress=False)
    lightgcn = {"saved_model_file": trainer.saved_model_file,
                "test_result": dict(trainer.evaluate(test, load_best_model=False))}  # 1 epoch: last = best
    return root, {"LightGCN_HNLM": hnlm, "LightGCN": lightgcn}


@pytest.fixture(scope="module")
def run_parts(demo):
    """``(config, train_data, test_data, trainer)`` of a LightGCN run on the demo set, for the trainer entry points."""
    root, _ = demo
    config, _, train, _, test = prepare("LightGCN", config_dict=base_config(root))
    model = get_model("LightGCN")(config, train.dataset).to(config["device"])
    return config, train, test, get_trainer(config["MODEL_TYPE"], "LightGCN")(config, model)


@pytest.fixture(params=["zip", "legacy"])
def crafted(request, tmp_path):
    """A .pth shaped like a checkpoint whose config, when unpickled, creates ``marker``."""
    marker, path = tmp_path / "marker", tmp_path / "crafted.pth"
    payload = {"config": WritesMarker(marker), "state_dict": {}, "epoch": 0}
    if request.param == "zip":
        torch.save(payload, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f)
    return path, marker


def assert_refused(error, path, marker):
    message = str(error)
    assert message.startswith(f"{path}: refused to load it") and TRUST_FLAG in message
    assert not marker.exists()


def test_crafted_checkpoint_runs_no_code_in_the_export_cli(crafted, tmp_path):
    path, marker = crafted
    out = subprocess.run([sys.executable, "-m", "recbole_hnlm.sampler.export", str(path), str(tmp_path / "n.tsv")],
                         cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0
    assert f"error: {path}: refused to load it" in out.stderr and TRUST_FLAG in out.stderr
    assert not marker.exists() and not (tmp_path / "n.tsv").exists()


def test_crafted_checkpoint_runs_no_code_as_scft_teacher(crafted, run_parts):
    path, marker = crafted
    config, train, _, _ = run_parts
    with pytest.raises(CheckpointError) as e:
        load_teacher(str(path), config, train.dataset)
    assert_refused(e.value, path, marker)


def test_crafted_checkpoint_runs_no_code_in_the_trainer(crafted, run_parts):
    path, marker = crafted
    _, _, test, trainer = run_parts
    with pytest.raises(CheckpointError) as e:
        trainer.evaluate(test, model_file=str(path))
    assert_refused(e.value, path, marker)
    with pytest.raises(CheckpointError) as e:
        trainer.resume_checkpoint(path)
    assert_refused(e.value, path, marker)


def test_trusting_a_file_is_an_explicit_opt_in(crafted):
    path, marker = crafted
    with pytest.raises(CheckpointError):
        load_file(path)
    assert not marker.exists()
    try:
        load_file(path, trust=True)  # what --trust_checkpoint=True risks: the file's code runs
    except CheckpointError:  # the legacy-format file is no torch file, but unpickling it ran its code first
        pass
    assert marker.exists()


def test_corrupt_truncated_and_foreign_files_name_the_file(demo, run_parts, tmp_path):
    _, runs = demo
    _, _, test, trainer = run_parts
    real = open(runs["LightGCN_HNLM"]["saved_model_file"], "rb").read()
    files = {
        "random.pth": random.Random(0).randbytes(4096),
        "truncated.pth": real[: len(real) // 2],
        "empty.pth": b"",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "weights.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    expected = {"random.pth": "not a readable checkpoint \\(UnpicklingError: invalid load key",
                "truncated.pth": "not a readable checkpoint \\(RuntimeError: PytorchStreamReader failed",
                "empty.pth": "not a readable checkpoint",
                "weights.pth": "field\\(s\\) \\['config', 'state_dict'\\] are missing \\(not a RecBole checkpoint\\)",
                "list.pth": "holds a list, not a RecBole checkpoint",
                "absent.pth": "no such checkpoint file"}
    for name, message in expected.items():
        path = tmp_path / name
        with pytest.raises(CheckpointError, match=f"^{re.escape(str(path))}: {message}"):
            load_checkpoint(path)
        with pytest.raises(CheckpointError, match=f"^{re.escape(str(path))}: {message}"):
            trainer.evaluate(test, model_file=str(path))


@pytest.mark.parametrize("model", ["LightGCN_HNLM", "LightGCN"])
def test_real_checkpoint_loads_safely_and_evaluates_as_in_its_run(demo, model):
    """LightGCN_HNLM saved by the plugin's trainer; LightGCN saved by RecBole's own Trainer and Config."""
    _, runs = demo
    run = runs[model]
    checkpoint = load_checkpoint(run["saved_model_file"])
    expected_class = "recbole_hnlm.config" if model == "LightGCN_HNLM" else "recbole.config.configurator"
    assert type(checkpoint["config"]).__module__ == expected_class and checkpoint["config"]["model"] == model
    assert checkpoint["config"].model_class is get_model(model)

    config, rebuilt, train = rebuild(run["saved_model_file"])
    init_seed(config["seed"], config["reproducibility"])
    _, _, test = data_preparation(config, create_dataset(config))
    trainer = get_trainer(config["MODEL_TYPE"], model)(config, rebuilt)
    assert dict(trainer.evaluate(test, load_best_model=False)) == run["test_result"]
    fresh = get_model(model)(config, train.dataset).to(config["device"])  # the trainer's own load_best_model path
    trainer = get_trainer(config["MODEL_TYPE"], model)(config, fresh)
    assert dict(trainer.evaluate(test, model_file=run["saved_model_file"])) == run["test_result"]


def test_split_check_names_the_differing_key(demo, run_parts):
    _, runs = demo
    path = runs["LightGCN_HNLM"]["saved_model_file"]
    other = load_checkpoint(path)["config"]
    other["seed"] = 7
    with pytest.raises(CheckpointError, match=f"^{re.escape(path)}: trained on another dataset, split or model "
                                              f"\\(seed: checkpoint 2020 vs run 7\\)"):
        rebuild(path, other, train_dataset=None)
    _, _, _, trainer = run_parts  # a LightGCN trainer cannot resume a LightGCN_HNLM run
    with pytest.raises(CheckpointError, match="model: checkpoint 'LightGCN_HNLM' vs run 'LightGCN'"):
        trainer.resume_checkpoint(path)


EPOCHS = 5


def cli(*args):
    return [sys.executable, str(ROOT / "run_recbole_hnlm.py"), "--model=LightGCN", "--show_progress=False",
            f"--epochs={EPOCHS}", "--train_batch_size=4096", *args]


def test_resume_from_the_command_line_after_kill_9(tmp_path):
    """Killed (SIGKILL) after a checkpoint exists, ``--resume`` continues after the saved epoch and finishes."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cli(), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    saved = None
    try:
        deadline = time.monotonic() + 300
        while saved is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            for path in (tmp_path / "saved").glob("LightGCN-*.pth"):
                proc.send_signal(signal.SIGSTOP)  # the file cannot change while we read it
                try:
                    if load_checkpoint(path)["epoch"] >= 1:
                        saved = path
                except CheckpointError:  # caught while being written
                    pass
                if saved is None:
                    proc.send_signal(signal.SIGCONT)
    finally:
        proc.kill()
        proc.wait()
    assert saved is not None, "no checkpoint of epoch >= 1 appeared"
    epoch = load_checkpoint(saved)["epoch"]
    assert epoch < EPOCHS - 1, "the first run finished before it was killed"

    out = subprocess.run(cli(f"--resume={saved}"), cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert f"Checkpoint {saved} loaded. Resume training from epoch {epoch + 1}" in log
    trained = [int(e) for e in re.findall(r"epoch (\d+) training", log)]
    assert trained and min(trained) == epoch + 1 and max(trained) == EPOCHS - 1
    assert "test result" in log and "ndcg@20" in log

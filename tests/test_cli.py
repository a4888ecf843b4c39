"""run_recbole_hnlm.py's command line, as a user runs it."""
import os
import subprocess
import sys

import pytest

from recbole_hnlm.config import Config
from tests.conftest import ROOT


def run_cli(cwd, *args, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, str(ROOT / "run_recbole_hnlm.py"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )


def test_default_command_generates_demo_and_features(tmp_path):
    """The README's main job, from an empty folder: demo data and features are built on first use."""
    out = run_cli(tmp_path, "--model=LightGCN_HNLM", "--epochs=1", "--show_progress=False")
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert "test result" in log and "ndcg@20" in log
    demo = tmp_path / "atomic_data" / "hnlm-demo"
    assert (demo / "hnlm-demo.inter").is_file() and (demo / "hnlm-demo.item").is_file()
    for name in ("retrieval", "item-text"):
        assert (demo / "hnlm" / name / "meta.json").is_file()
    assert list((tmp_path / "saved").glob("LightGCN_HNLM-*.pth"))


def test_overrides_and_config_files(tmp_path):
    cfg = tmp_path / "my.yaml"
    cfg.write_text("mix_alpha: 0.35\nembedding_size: 32\n")
    out = run_cli(tmp_path, "--model=LightGCN_HNLM", f"--config_files={cfg}", "--epochs=1",
                  "--align_weight=0.07", "--show_progress=False", "--saved=False")
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert "mix_alpha = 0.35" in log and "align_weight = 0.07" in log and "embedding_size = 32" in log
    assert not (tmp_path / "saved").exists() or not list((tmp_path / "saved").glob("*.pth"))


def test_recbole_models_run_through_the_same_tool(tmp_path):
    out = run_cli(tmp_path, "--model=LightGCN", "--epochs=1", "--show_progress=False", "--saved=False")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "LightGCN(" in out.stdout + out.stderr


def test_unknown_model_is_a_clear_error(tmp_path):
    out = run_cli(tmp_path, "--model=NoSuchModel", "--epochs=1")
    assert out.returncode != 0
    assert "model [NoSuchModel] is neither a recbole-hnlm model" in out.stderr


def test_missing_feature_set_is_a_clear_error(tmp_path):
    out = run_cli(tmp_path, "--model=LightGCN_HNLM", "--epochs=1", "--hnlm_feature=llm-v1", "--show_progress=False")
    assert out.returncode != 0
    assert "hnlm/llm-v1: the feature set 'llm-v1' does not exist" in out.stderr


def test_properties_merge_order(tmp_path):
    """Plugin model yaml over the backbone's RecBole yaml over the plugin's shared yaml; the user wins."""
    config = Config(model="LightGCN_HNLM", config_dict={"data_path": str(tmp_path), "mix_alpha": 0.5})
    assert config["n_layers"] == 2            # RecBole's LightGCN.yaml
    assert config["align_tau"] == 0.2         # properties/hnlm.yaml
    assert config["anchor_weight"] == 0.1     # properties/hnlm_model.yaml beats hnlm.yaml's 0.0
    assert config["mix_alpha"] == 0.5         # the user's dict wins
    assert config["valid_metric"] == "NDCG@20"  # plugin overall.yaml
    assert config["dataset"] == "hnlm-demo"


def test_dataset_side_yaml_is_merged(tmp_path):
    ds = tmp_path / "toy"
    ds.mkdir()
    (ds / "toy.yaml").write_text("load_col: {inter: [user_id, item_id, rating]}\nmix_alpha: 0.9\n")
    config = Config(model="LightGCN_HNLM", dataset="toy", config_dict={"data_path": str(tmp_path)})
    assert config["load_col"] == {"inter": ["user_id", "item_id", "rating"]}
    assert config["mix_alpha"] == 0.9
    config = Config(model="LightGCN_HNLM", dataset="toy", config_dict={"data_path": str(tmp_path), "mix_alpha": 0.1})
    assert config["mix_alpha"] == 0.1


def test_bad_yaml_names_the_file(tmp_path):
    ds = tmp_path / "toy"
    ds.mkdir()
    (ds / "toy.yaml").write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match=r"toy\.yaml: expected a mapping"):
        Config(model="LightGCN_HNLM", dataset="toy", config_dict={"data_path": str(tmp_path)})

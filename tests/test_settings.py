"""Settings are checked where they are read: plugin keys against their yaml declarations, typos, dataset names."""
import glob
import json
import os
import re
import subprocess
import sys
import warnings

import pytest
import yaml

from recbole_hnlm.config import PROPERTIES_DIR, Config
from tests.conftest import ROOT, base_config


def make_config(tmp_path, model="LightGCN_HNLM", **settings):
    return Config(model=model, config_dict={"data_path": str(tmp_path), **settings})


# ----- the probes of the task: each was accepted before the check ------------------------------
@pytest.mark.parametrize("value", [2, -1, 1.5])
def test_mix_alpha_outside_0_1_names_the_key_and_the_value(tmp_path, value):
    with pytest.raises(ValueError, match=rf"setting mix_alpha={value}: must be in 0\.\.1 \(declared in "
                                         rf"recbole_hnlm/properties/hnlm\.yaml:\d+\)"):
        make_config(tmp_path, mix_alpha=value)


def test_mix_alpha_that_is_not_a_number_names_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"setting mix_alpha='abc': expected float in 0\.\.1, got str"):
        make_config(tmp_path, mix_alpha="abc")


def test_n_hard_zero_is_refused_not_rounded_up(tmp_path):
    with pytest.raises(ValueError, match=r"setting n_hard=0: must be >=1"):
        make_config(tmp_path, n_hard=0)


def test_a_typo_of_a_plugin_key_is_refused_with_a_suggestion(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"unknown setting 'mix_alpa': did you mean 'mix_alpha'\? \(in the config dict\)"):
        make_config(tmp_path, mix_alpa=0.5)
    monkeypatch.setattr(sys, "argv", ["run_recbole_hnlm.py", "--scft_batchsize=4"])
    with pytest.raises(ValueError, match=r"unknown setting 'scft_batchsize': did you mean 'scft_batch_size'\? "
                                         r"\(in the command line\)"):
        make_config(tmp_path)
    monkeypatch.setattr(sys, "argv", ["pytest"])
    path = tmp_path / "mine.yaml"
    path.write_text("align_weigth: 0.1\n")
    with pytest.raises(ValueError, match=rf"did you mean 'align_weight'\? \(in {re.escape(str(path))}\)"):
        Config(model="LightGCN_HNLM", config_file_list=[str(path)], config_dict={"data_path": str(tmp_path)})


def test_the_command_line_exits_non_zero_on_a_typo_before_any_work(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(ROOT / "run_recbole_hnlm.py"), "--mix_alpa=0.5", "--epochs=1"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-3000:]
    assert "error: unknown setting 'mix_alpa': did you mean 'mix_alpha'?" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "atomic_data").exists()  # the demo set was not generated


@pytest.mark.parametrize("name", ["../x", "a/b", "/abs/ds", "..", "a\\b"])
def test_dataset_must_be_a_folder_name(tmp_path, name):
    with pytest.raises(ValueError, match=rf"setting dataset={re.escape(repr(name))}: a dataset is a folder name"):
        Config(model="LightGCN_HNLM", dataset=name, config_dict={"data_path": str(tmp_path)})
    with pytest.raises(ValueError, match=r"setting dataset="):
        make_config(tmp_path, dataset=name)


def test_scft_batch_size_1_fails_before_the_teacher_is_touched(tmp_path):
    from recbole_hnlm.llm.scft import cli

    data_path = tmp_path / "atomic_data"
    data_path.mkdir()
    teacher = tmp_path / "no-such-teacher.pth"  # reading it would fail with another error
    with pytest.raises(ValueError, match=r"setting scft_batch_size=1: must be >=2 \(declared in "
                                         r"recbole_hnlm/properties/scft\.yaml:\d+\)"):
        cli.main(["finetune", f"--scft_teacher={teacher}", "--scft_batch_size=1"], config_dict=base_config(data_path))
    assert list(data_path.iterdir()) == []  # no demo set, no run folder, no teacher labels


def test_retrieval_k_default_of_the_yaml_reaches_the_built_features(tmp_path):
    from recbole_hnlm.data.demo import generate
    from recbole_hnlm.quick_start import prepare

    with open(os.path.join(PROPERTIES_DIR, "hnlm.yaml"), encoding="utf-8") as f:
        assert yaml.safe_load(f)["retrieval_k"] == 2
    generate(str(tmp_path / "small"), n_users=40, n_items=50, per_user=(10, 14))
    config, *_ = prepare("LightGCN_HNLM", config_dict=base_config(tmp_path, dataset="small"))
    assert config["retrieval_k"] == 2
    for name in ("retrieval", "retrieval-item"):
        with open(tmp_path / "small" / "hnlm" / name / "meta.json", encoding="utf-8") as f:
            meta = json.load(f)
        assert meta["k"] == 2 and meta["source"]["k"] == 2 and meta["source"]["text_fields"] == "all"


# ----- what passes, and how values are typed ---------------------------------------------------
def test_recbole_keys_and_bench_keys_pass_without_a_word(tmp_path, recwarn):
    config = make_config(
        tmp_path, learning_rate=0.01, n_layers=3, reg_weight=1e-4, nproc=1, bench_train_ratio=0.5,
        train_neg_sample_args={"distribution": "uniform", "sample_num": 1, "alpha": 1.0, "dynamic": False,
                               "candidate_num": 0},
    )
    assert config["n_layers"] == 3 and config["bench_train_ratio"] == 0.5
    assert not [w for w in recwarn if "declared neither" in str(w.message)]


def test_an_unknown_key_far_from_every_plugin_key_is_warned_about_and_kept(tmp_path):
    with pytest.warns(UserWarning, match=r"setting 'my_own_knob' \(in the config dict\) is declared neither"):
        config = make_config(tmp_path, my_own_knob=3)
    assert config["my_own_knob"] == 3


def test_values_are_typed_as_declared(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["x", "--scft_lora_targets=[q_proj,v_proj]", "--hnlm_feature=7"])
    config = make_config(tmp_path, mix_alpha=1, align_tau=1)
    assert config["mix_alpha"] == 1.0 and isinstance(config["mix_alpha"], float)
    assert config["scft_lora_targets"] == ["q_proj", "v_proj"]
    assert config["hnlm_feature"] == "7"
    assert config["hnlm_granularity"] is None  # its default is ~
    with pytest.raises(ValueError, match=r"setting mix_alpha=None: needs a value"):
        make_config(tmp_path, mix_alpha=None)
    with pytest.raises(ValueError, match=r"setting hnlm_literal=1: expected bool, got int"):
        make_config(tmp_path, hnlm_literal=1)


def test_choices_are_listed(tmp_path):
    with pytest.raises(ValueError, match=r"setting neg_sampler='DNS': choose one of rns\|dns\|mixgcf\|ahns"):
        make_config(tmp_path, neg_sampler="DNS")
    with pytest.raises(ValueError, match=r"setting hard_norm='clip': choose one of match\|none"):
        make_config(tmp_path, hard_norm="clip")


# ----- the declarations themselves -------------------------------------------------------------
def test_declaration_grammar():
    from recbole_hnlm.settings import SettingError, parse_declaration

    d = parse_declaration("x", "float, 0..1", "f.yaml:1")
    assert d.check(0) == 0.0 and d.check(1) == 1.0
    open_low = parse_declaration("x", "float, >0", "f.yaml:1")
    assert open_low.check(1e-9) == 1e-9
    with pytest.raises(SettingError, match=r"setting x=0: must be >0 \(declared in f\.yaml:1\)"):
        open_low.check(0)
    upper = parse_declaration("x", "int, ..10", "f.yaml:1")
    assert upper.check(-5) == -5
    with pytest.raises(SettingError, match="must be <=10"):
        upper.check(11)
    assert parse_declaration("x", "str: a|b", "f.yaml:1").choices == ("a", "b")
    with pytest.raises(ValueError, match=r"f\.yaml:3: x: cannot read the declaration \(number\)"):
        parse_declaration("x", "number", "f.yaml:3")
    with pytest.raises(ValueError, match=r"f\.yaml:3: x: cannot read the range 'big'"):
        parse_declaration("x", "int, big", "f.yaml:3")


def _plugin_yamls():
    return sorted(glob.glob(os.path.join(PROPERTIES_DIR, "**", "*.yaml"), recursive=True))


def test_every_plugin_key_is_declared_and_every_default_fits_its_declaration():
    from recbole_hnlm.settings import declarations, recbole_keys

    declared = declarations()
    for path in _plugin_yamls():
        with open(path, encoding="utf-8") as f:
            values = yaml.safe_load(f) or {}
        for key, value in values.items():
            if key in declared:
                declared[key].check(value)
            else:
                assert key in recbole_keys(), f"{path}: {key} has no '# (type) description' comment"


def test_every_key_the_plugin_reads_is_declared_somewhere():
    from recbole_hnlm.settings import plugin_keys, recbole_keys

    read = set()
    for path in glob.glob(str(ROOT / "recbole_hnlm" / "**" / "*.py"), recursive=True):
        with open(path, encoding="utf-8") as f:
            read.update(re.findall(r"""config\[\s*["'](\w+)["']\s*\]""", f.read()))
    assert sorted(read - plugin_keys() - recbole_keys()) == []


def test_every_plugin_model_builds_its_config_with_every_plugin_yaml_loaded(tmp_path):
    from recbole_hnlm.utils import plugin_model_names

    files = [os.path.join(PROPERTIES_DIR, "llm.yaml"), os.path.join(PROPERTIES_DIR, "scft.yaml")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for model in plugin_model_names():
            Config(model=model, config_file_list=files, config_dict={"data_path": str(tmp_path)})


# ----- SCFT's settings object ------------------------------------------------------------------
def _scft_defaults():
    with open(os.path.join(PROPERTIES_DIR, "scft.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_scft_settings_are_filled_from_the_yaml_and_checked():
    from dataclasses import fields

    from recbole_hnlm.llm.scft.settings import SCFTSettings

    defaults = _scft_defaults()
    assert {"scft_" + f.name for f in fields(SCFTSettings)} == set(defaults)
    s = SCFTSettings.from_config(defaults)
    assert s.grad_accum == 2  # the yaml's value, not a fallback in code
    assert s.eval_batch == s.batch_size == 8 and s.mlp_learning_rate == s.lr == 2e-4
    assert s.feature_name == "scft-user"
    with pytest.raises(ValueError, match=r"setting scft_batch_size=1: must be >=2"):
        SCFTSettings.from_config(dict(defaults, scft_batch_size=1))
    with pytest.raises(ValueError, match=r"setting scft_scheduler='step': choose one of cosine\|linear\|constant"):
        SCFTSettings.from_config(dict(defaults, scft_scheduler="step"))

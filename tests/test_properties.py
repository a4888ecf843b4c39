"""The yamls: the _HNLM defaults declared once, and the user-facing properties/ folder."""
import os

import pytest
import yaml
from recbole.data import create_dataset

from recbole_hnlm.config import Config
from recbole_hnlm.data.convert.presets import PRESETS
from recbole_hnlm.data.convert.filters import parse_utc
from tests.conftest import ROOT

PROPERTIES = ROOT / "properties"


def config(tmp_path, model, **kw):
    return Config(model=model, config_dict={"data_path": str(tmp_path), **kw})


@pytest.mark.parametrize("backbone", ["MF", "LightGCN", "NGCF", "SGL"])
def test_hnlm_models_get_the_shared_hnlm_defaults(tmp_path, backbone):
    c = config(tmp_path, f"{backbone}_HNLM")
    assert (c["mix_alpha"], c["align_weight"], c["anchor_weight"]) == (0.0, 0.05, 0.1)  # hnlm_model.yaml
    assert (c["neg_sampler"], c["guard_above_positive"], c["semantic_guard_cos"]) == ("dns", True, 0.8)
    assert c["align_tau"] == 0.2 and c["dns_m"] == 32  # hnlm.yaml, read before


@pytest.mark.parametrize("model,sampler", [("LightGCN_DNS", "dns"), ("MF_MixGCF", "mixgcf"), ("SGL_AHNS", "ahns"),
                                           ("LightGCN_RLMRecCon", "rns"), ("LightGCN_KAR", "rns")])
def test_baselines_keep_the_semantic_parts_off(tmp_path, model, sampler):
    c = config(tmp_path, model)
    assert (c["mix_alpha"], c["align_weight"], c["anchor_weight"]) == (0, 0, 0)
    assert c["neg_sampler"] == sampler


def test_the_hnlm_defaults_live_in_one_file():
    model_dir = ROOT / "recbole_hnlm" / "properties" / "model"
    assert not list(model_dir.glob("*_HNLM.yaml"))
    assert not (ROOT / "recbole_hnlm" / "properties" / "dataset").exists()


def _interval(text):
    """RecBole's "[a,b)" -> (a, b) as floats (inf for an open end)."""
    low, high = text.strip("[]()").split(",")
    return float(low), float(high)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_dataset_yaml_states_its_converter_preset(name):
    values = yaml.safe_load((PROPERTIES / "dataset" / f"{name}.yaml").read_text())
    spec = PRESETS[name].spec()
    assert values["rm_dup_inter"] == spec.dedup
    assert _interval(values["val_interval"]["rating"]) == (spec.min_rating, float("inf"))
    assert _interval(values["val_interval"]["timestamp"]) == (parse_utc(spec.start_date), parse_utc(spec.end_date))
    for key, minimum in (("user_inter_num_interval", spec.min_user_inter), ("item_inter_num_interval", spec.min_item_inter)):
        if minimum:
            assert _interval(values[key]) == (minimum, float("inf"))
        else:
            assert key not in values
    text = (PROPERTIES / "dataset" / f"{name}.yaml").read_text()
    assert f"--preset {name}" in text and f"atomic_data/{name}" in text


def _write_inter(root, name, rows):
    folder = root / name
    folder.mkdir(parents=True)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    lines += [f"{u}\t{i}\t{r}\t{t}" for u, i, r, t in rows]
    (folder / f"{name}.inter").write_text("\n".join(lines) + "\n")


def test_dataset_layer_is_read_from_the_current_directory(tmp_path, monkeypatch):
    """--dataset=toys picks up properties/dataset/toys.yaml from where the command runs, and RecBole
    applies its filters: low ratings, dates outside the range and users below the 10-core go."""
    inside, outside = parse_utc("2016-06-01"), parse_utc("2019-06-01")
    rows = [(f"u{u}", f"i{i}", 5.0, inside) for u in range(12) for i in range(12)]
    rows += [("low", f"i{i}", 3.0, inside) for i in range(12)]          # rating < 4
    rows += [("late", f"i{i}", 5.0, outside) for i in range(12)]        # after 2018-01-01
    rows += [("few", f"i{i}", 5.0, inside) for i in range(5)]           # < 10 interactions
    rows += [("u0", "i0", 5.0, inside + 1)]                             # a repeat
    _write_inter(tmp_path, "toys", rows)
    cfg = {"data_path": str(tmp_path), "show_progress": False}

    monkeypatch.chdir(ROOT)
    c = Config(model="BPR", dataset="toys", config_dict=cfg)
    assert c["user_inter_num_interval"] == "[10,inf)"
    ds = create_dataset(c)
    assert (ds.user_num - 1, ds.item_num - 1, ds.inter_num) == (12, 12, 144)

    monkeypatch.chdir(tmp_path)  # no properties/ here: nothing is filtered
    c = Config(model="BPR", dataset="toys", config_dict=cfg)
    assert c["val_interval"] is None and c["user_inter_num_interval"] == "[0,inf)"  # RecBole's defaults
    assert create_dataset(c).inter_num == len(rows)


def test_experiment_files_combine(tmp_path):
    files = [str(PROPERTIES / "experiment" / f) for f in ("budget.yaml", "no-semantic-negatives.yaml")]
    c = Config(model="LightGCN_HNLM", config_file_list=files, config_dict={"data_path": str(tmp_path)})
    assert (c["epochs"], c["stopping_step"], c["learning_rate"]) == (100, 10, 0.005)
    assert c["semantic_negatives"] is False and (c["align_weight"], c["anchor_weight"]) == (0.05, 0.1)
    c = Config(model="LightGCN_DNS", config_file_list=files[:1], config_dict={"data_path": str(tmp_path)})
    assert (c["epochs"], c["neg_sampler"], c["mix_alpha"]) == (100, "dns", 0)

"""Short CLI runs of every _HNLM model and of RecBole's LightGCN, on ml-100k and on the demo set."""
import pytest

from tests.test_cli import run_cli

MODELS = ["LightGCN", "MF_HNLM", "LightGCN_HNLM", "NGCF_HNLM", "SGL_HNLM"]


def _check(out, model):
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert f"{model}(" in log
    assert "test result" in log and "ndcg@20" in log


@pytest.mark.parametrize("model", MODELS)
def test_demo_dataset_one_epoch(tmp_path, model):
    out = run_cli(tmp_path, f"--model={model}", "--epochs=1", "--show_progress=False", "--saved=False")
    _check(out, model)


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_ml100k_two_epochs(tmp_path, ml100k_root, model):
    out = run_cli(tmp_path, f"--model={model}", "--dataset=ml-100k", f"--data_path={ml100k_root}",
                  "--epochs=2", "--show_progress=False")
    _check(out, model)
    if model.endswith("_HNLM"):
        assert (ml100k_root / "ml-100k" / "hnlm" / "retrieval" / "meta.json").is_file()

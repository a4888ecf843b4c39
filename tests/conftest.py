import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_dataset(name):
    """Path of a real dataset in ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture
def data_root(tmp_path):
    """An empty data_path for a test; datasets are generated or copied into it."""
    root = tmp_path / "atomic_data"
    root.mkdir()
    return root


@pytest.fixture
def ml100k_root(tmp_path):
    """A data_path holding a copy of ../shared/data/ml-100k (RecBole atomic already)."""
    src = shared_dataset("ml-100k")
    dst = tmp_path / "atomic_data" / "ml-100k"
    shutil.copytree(src, dst)
    return tmp_path / "atomic_data"


def base_config(data_root, **kw):
    """A small, quiet, fast config for test runs."""
    cfg = {
        "data_path": str(data_root),
        "checkpoint_dir": os.path.join(str(data_root), "saved"),
        "show_progress": False,
        "state": "WARNING",
        "epochs": 1,
        "train_batch_size": 1024,
    }
    cfg.update(kw)
    return cfg

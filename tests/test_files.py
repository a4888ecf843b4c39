"""The one atomic JSON writer: concurrent writers of one path, and a failed write."""
import json
import threading

import pytest

from recbole_hnlm.files import atomic_write_json


def test_concurrent_writers_of_one_path_leave_one_whole_file(tmp_path):
    path = tmp_path / "summary.json"
    errors = []

    def write(n):
        try:
            for i in range(50):
                atomic_write_json(str(path), {"writer": n, "i": i, "pad": "x" * 10_000})
        except Exception as e:  # noqa: BLE001 (collected and asserted below)
            errors.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = json.loads(path.read_text())
    assert got["i"] == 49 and got["writer"] in range(4)
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "meta.json"
    atomic_write_json(str(path), {"ok": 1}, indent=2)
    with pytest.raises(TypeError):
        atomic_write_json(str(path), {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]

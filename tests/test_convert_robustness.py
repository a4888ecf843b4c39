"""Malformed input, clear errors, --skip-bad, empty results and atomic output."""
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recbole_hnlm.data.convert import ConvertError, convert
from recbole_hnlm.data.convert import jsonio
from recbole_hnlm.data.convert.amazon import AmazonSource
from recbole_hnlm.data.convert.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
T2016 = 1451606400


def review(u, i, rating=5.0, ts=T2016, text="t"):
    return json.dumps({"reviewerID": u, "asin": i, "overall": rating, "unixReviewTime": ts, "reviewText": text})


def write(path, lines, gz=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode("utf-8") if isinstance(lines, list) else lines
    if gz:
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def good_lines():
    return [review(f"U{u}", f"I{i}") for u in range(3) for i in range(3)]


def leftovers(parent):
    """Hidden temporary folders the converter may have left in ``parent``."""
    return [p for p in os.listdir(parent) if p.startswith(".")] if os.path.isdir(parent) else []


def run(input_path, out, **kw):
    kw.setdefault("echo", False)
    kw.setdefault("progress", False)
    return convert(kw.pop("fmt", "amazon2018"), str(input_path), str(out), **kw)


def test_malformed_json_names_file_and_line(tmp_path):
    lines = good_lines()
    lines[2] = '{"reviewerID": "U9", "asin": '  # cut short
    rev = write(tmp_path / "raw" / "r.json", lines)
    out = tmp_path / "out" / "ds"
    with pytest.raises(ConvertError, match=r"r\.json: line 3: not valid JSON"):
        run(rev, out)
    assert not out.exists() and leftovers(out.parent) == []

    summary = run(rev, out, skip_bad=True)
    assert summary["bad_lines_skipped"] == 1 and summary["interactions"] == 8
    assert summary["bad_lines_by_file"] == {str(rev): 1}
    assert "r.json: line 3" in summary["bad_line_examples"][0]
    assert "| bad lines skipped | 1 |" in (out / "ds.stats.md").read_text()


def test_missing_required_field_and_bad_values(tmp_path):
    lines = good_lines()
    lines[4] = json.dumps({"reviewerID": "U1", "overall": 5, "unixReviewTime": T2016})
    lines[5] = json.dumps({"reviewerID": "U1", "asin": "I7", "overall": "five", "unixReviewTime": T2016})
    lines[6] = json.dumps({"reviewerID": 'U"1', "asin": "I7", "overall": 5, "unixReviewTime": T2016})
    lines[7] = json.dumps(["not", "an", "object"])
    rev = write(tmp_path / "raw" / "r.json", lines)
    with pytest.raises(ConvertError, match=r"line 5: missing required field 'asin'"):
        run(rev, tmp_path / "out" / "ds")
    summary = run(rev, tmp_path / "out" / "ds", skip_bad=True)
    assert summary["bad_lines_skipped"] == 4 and summary["interactions"] == 5
    text = "\n".join(summary["bad_line_examples"])
    assert "'overall' is not a number" in text and "contains a TAB" in text and "expected an object" in text


def test_invalid_utf8_and_python_code_lines(tmp_path):
    data = ("\n".join(good_lines()[:2]) + "\n").encode() + b'{"reviewerID": "U\xff", "asin": "I1"}\n' \
        + b"__import__('os').system('echo pwned')\n" + (good_lines()[3] + "\n").encode()
    rev = write(tmp_path / "raw" / "r.json.gz", data, gz=True)
    with pytest.raises(ConvertError, match=r"line 3: not valid utf-8"):
        run(rev, tmp_path / "out" / "ds", fmt="amazon2014")
    # 2014 lines may be Python literals: read with ast.literal_eval, which never runs code
    summary = run(rev, tmp_path / "out" / "ds", skip_bad=True, fmt="amazon2014")
    assert summary["bad_lines_skipped"] == 2 and summary["interactions"] == 3
    assert "neither JSON nor a Python dict literal" in summary["bad_line_examples"][1]


def test_truncated_gzip(tmp_path):
    blob = gzip.compress(("\n".join(good_lines() * 3000) + "\n").encode())  # ~3 MB of text
    rev = tmp_path / "raw" / "r.json.gz"
    rev.parent.mkdir()
    rev.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ConvertError, match=r"r\.json\.gz: truncated or corrupt after line \d+"):
        run(rev, tmp_path / "out" / "ds")
    summary = run(rev, tmp_path / "out" / "ds", skip_bad=True, dedup="all")
    # every complete line before the damage is kept (see test_convert_safety for the exact count)
    n = summary["unreadable_after_line"][str(rev)]
    assert summary["bad_lines_skipped"] == 0 and summary["interactions"] == n and 9000 <= n < 27000


def test_unknown_format_preset_and_missing_input(tmp_path):
    rev = write(tmp_path / "raw" / "r.json", good_lines())
    with pytest.raises(ConvertError, match="unknown format 'amazon2019'.*amazon2018"):
        run(rev, tmp_path / "out" / "ds", fmt="amazon2019")
    with pytest.raises(ConvertError, match="unknown preset 'toy'"):
        run(rev, tmp_path / "out" / "ds", preset="toy")
    with pytest.raises(ConvertError, match="input not found"):
        run(tmp_path / "raw" / "nope.json", tmp_path / "out" / "ds")
    with pytest.raises(ConvertError, match="metadata file"):
        run(rev, tmp_path / "out" / "ds", meta=str(tmp_path / "raw" / "meta_missing.json"))
    with pytest.raises(ConvertError, match="train.txt"):
        run(tmp_path / "raw", tmp_path / "out" / "ds", fmt="lightgcn")
    assert not (tmp_path / "out" / "ds").exists()


def test_empty_result_after_filtering_is_an_error(tmp_path):
    rev = write(tmp_path / "raw" / "r.json", good_lines())
    out = tmp_path / "out" / "ds"
    with pytest.raises(ConvertError, match=r"no interactions left after filtering \(9 read.*k-core 9"):
        run(rev, out, k_core=10)
    with pytest.raises(ConvertError, match=r"removed: rating 0, date 9"):
        run(rev, out, start_date="2017-01-01")
    assert not out.exists() and leftovers(out.parent) == []
    lines = ["garbage"] * 3
    with pytest.raises(ConvertError, match="3 bad lines skipped.*first bad line"):
        run(write(tmp_path / "raw" / "bad.json", lines), out, skip_bad=True)


def test_failed_conversion_keeps_existing_output(tmp_path):
    rev = write(tmp_path / "raw" / "r.json", good_lines())
    out = tmp_path / "out" / "ds"
    run(rev, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    bad = write(tmp_path / "raw2" / "r.json", good_lines()[:4] + ["{oops"])
    with pytest.raises(ConvertError):
        run(bad, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert leftovers(out.parent) == []

    # a successful run replaces it completely and cleans up
    run(write(tmp_path / "raw3" / "r.json", good_lines()[:4]), out)
    assert json.loads((out / "ds.stats.json").read_text())["interactions"] == 4
    assert leftovers(out.parent) == []


def test_interrupted_conversion_leaves_nothing_half_written(tmp_path, monkeypatch):
    rev = write(tmp_path / "raw" / "r.json", good_lines())
    out = tmp_path / "out" / "ds"
    run(rev, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(self, wanted):
        yield "I0", {"title": "half"}
        raise KeyboardInterrupt

    monkeypatch.setattr(AmazonSource, "iter_items", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(rev, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert leftovers(out.parent) == []
    with pytest.raises(KeyboardInterrupt):
        run(rev, tmp_path / "out" / "fresh")
    assert not (tmp_path / "out" / "fresh").exists() and leftovers(out.parent) == []


def test_refuses_to_write_inside_the_input_folder(tmp_path):
    rev = write(tmp_path / "raw" / "r.json", good_lines())
    with pytest.raises(ConvertError, match="inside the input folder"):
        run(rev, tmp_path / "raw" / "atomic" / "ds")
    assert not (tmp_path / "raw" / "atomic").exists()


def test_results_do_not_depend_on_orjson(tmp_path, monkeypatch):
    lines = good_lines() + [json.dumps({"reviewerID": "U0", "asin": "I0", "overall": 4, "unixReviewTime": T2016,
                                        "summary": "é \u2028 ok", "reviewText": "a\tb"})]
    rev = write(tmp_path / "raw" / "r.json", lines)
    run(rev, tmp_path / "out" / "a", dedup="all")
    monkeypatch.setattr(jsonio, "_orjson", None)
    run(rev, tmp_path / "out" / "b", dedup="all")
    for suffix in ("inter", "item", "reviews.jsonl"):
        assert (tmp_path / "out" / "a" / f"a.{suffix}").read_bytes() == (tmp_path / "out" / "b" / f"b.{suffix}").read_bytes()


def test_cli_in_process(tmp_path, capsys):
    rev = write(tmp_path / "raw" / "r.json", good_lines())
    assert cli_main(["nosuch", "--input", str(rev), "--output", str(tmp_path / "o" / "x"), "--no-progress"]) == 2
    assert "unknown format 'nosuch'" in capsys.readouterr().err
    assert cli_main(["amazon2018", "--input", str(rev), "--output", str(tmp_path / "o" / "x"), "--no-progress",
                     "--min-rating", "4", "--dedup", "last", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "| x | 3 | 3 | 9 | 1.00e+00 |" in printed


def test_cli_module_entry_point(tmp_path):
    rev = write(tmp_path / "raw" / "r.json.gz", good_lines(), gz=True)
    out = tmp_path / "atomic_data" / "toys"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-m", "recbole_hnlm.data.convert", "amazon2018", "--input", str(rev), "--output", str(out),
         "--min-rating", "4", "--no-progress"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "| toys | 3 | 3 | 9 |" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        ".recbole-hnlm-convert.json", "toys.inter", "toys.item", "toys.reviews.jsonl", "toys.stats.json", "toys.stats.md", "toys.yaml"]

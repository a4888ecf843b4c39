"""Output-folder safety (marker, what a re-conversion keeps, crash recovery, SIGTERM), truncated gzip,
unisrec on downloaded folders, flags a format does not use, --split, --sample-users, line counts."""
import gzip
import json
import logging
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from recbole_hnlm.data.atomic import AtomicFileError, read_atomic
from recbole_hnlm.data.convert import ConvertError, convert
from recbole_hnlm.data.convert import output as output_mod

from test_convert_formats import unisrec_fixture, write_lines
from test_convert_robustness import good_lines, leftovers, review, run, write

ROOT = Path(__file__).resolve().parents[1]
MARKER = ".recbole-hnlm-convert.json"


def files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def user_files(out):
    """Files a user (or the rest of the project) put next to a converted dataset."""
    (out / "hnlm").mkdir()
    (out / "hnlm" / "features.npy").write_bytes(b"features")
    (out / "llm_cache.sqlite").write_bytes(b"paid answers")
    (out / "notes.txt").write_text("mine")
    return {"hnlm/features.npy": b"features", "llm_cache.sqlite": b"paid answers", "notes.txt": b"mine"}


# ---------------------------------------------------------------- output folders


def test_refuses_a_folder_the_converter_did_not_write(tmp_path):
    rev = write(tmp_path / "raw" / "r.json", good_lines())
    root = tmp_path / "atomic_data"
    run(rev, root / "toys")
    (root / "other").mkdir()
    (root / "other" / "other.inter").write_text("x")
    before = files(root)
    # the dataset name forgotten: --output atomic_data
    with pytest.raises(ConvertError, match=r"atomic_data: .*not written by the converter"):
        run(rev, root)
    assert files(root) == before and leftovers(tmp_path) == []
    # an empty folder is fine
    (tmp_path / "empty").mkdir()
    run(rev, tmp_path / "empty")
    assert (tmp_path / "empty" / "empty.inter").exists()


def test_reconversion_replaces_only_the_converters_files(tmp_path):
    out = tmp_path / "atomic_data" / "ds"
    run(write(tmp_path / "raw" / "r.json", good_lines()), out)
    assert (out / "ds.reviews.jsonl").exists()
    marker = json.loads((out / MARKER).read_text())
    assert sorted(marker["files"]) == ["ds.inter", "ds.item", "ds.reviews.jsonl", "ds.stats.json", "ds.stats.md",
                                       "ds.yaml"]
    mine = user_files(out)
    # different content (no review texts, fewer rows): the old converter files are replaced or removed
    lines = [json.dumps({"reviewerID": "U0", "asin": f"I{i}", "overall": 5, "unixReviewTime": 1}) for i in range(2)]
    summary = run(write(tmp_path / "raw2" / "r.json", lines), out)
    assert summary["interactions"] == 2
    now = files(out)
    assert {k: now[k] for k in mine} == mine
    assert "ds.reviews.jsonl" not in now and len(read_atomic(str(out / "ds.inter"))) == 2
    assert "ds.reviews.jsonl" not in json.loads((out / MARKER).read_text())["files"]
    assert leftovers(out.parent) == []

    # a file of the user's with a name the converter now wants to write is not overwritten
    (out / "ds.reviews.jsonl").write_text("user's own")
    with pytest.raises(ConvertError, match=r"ds\.reviews\.jsonl.*not written by the converter"):
        run(write(tmp_path / "raw3" / "r.json", good_lines()), out)
    assert (out / "ds.reviews.jsonl").read_text() == "user's own" and leftovers(out.parent) == []


def test_output_of_an_older_converter_is_adopted(tmp_path):
    """A dataset folder written before the marker existed: recognised by its stats.json."""
    out = tmp_path / "atomic_data" / "ds"
    run(write(tmp_path / "raw" / "r.json", good_lines()), out)
    (out / MARKER).unlink()
    mine = user_files(out)
    run(write(tmp_path / "raw2" / "r.json", good_lines()[:4]), out)
    now = files(out)
    assert {k: now[k] for k in mine} == mine and (out / MARKER).exists()


def _converted_twice_with_a_crash_mid_swap(tmp_path, monkeypatch):
    """Convert A, then kill conversion B after two of its files were moved into place."""
    out = tmp_path / "atomic_data" / "ds"
    run(write(tmp_path / "raw" / "r.json", good_lines()), out)
    mine = user_files(out)
    real_replace, calls = os.replace, []

    def dying_replace(src, dst):
        if os.path.basename(os.path.dirname(os.fspath(src))).startswith(".ds.partial-"):
            calls.append(src)
            if len(calls) == 3:
                raise SystemExit("killed")  # stands for SIGKILL: nothing after this runs
        return real_replace(src, dst)

    monkeypatch.setattr(output_mod.os, "replace", dying_replace)
    lines = [json.dumps({"reviewerID": "U0", "asin": f"I{i}", "overall": 5, "unixReviewTime": 1}) for i in range(2)]
    with pytest.raises(SystemExit):
        run(write(tmp_path / "raw2" / "r.json", lines), out)
    monkeypatch.setattr(output_mod.os, "replace", real_replace)
    return out, mine


def test_crash_mid_swap_is_finished_by_the_next_run(tmp_path, monkeypatch, caplog):
    out, mine = _converted_twice_with_a_crash_mid_swap(tmp_path, monkeypatch)
    assert [p for p in leftovers(out.parent) if ".partial-" in p]  # the crash state: a half-moved swap
    caplog.set_level(logging.INFO)
    # the next run (even one that then fails on its input) completes the interrupted swap first
    with pytest.raises(ConvertError):
        run(write(tmp_path / "raw3" / "r.json", ["{oops"]), out)
    assert "finished an interrupted swap" in caplog.text
    assert leftovers(out.parent) == []
    now = files(out)
    assert {k: now[k] for k in mine} == mine
    assert len(read_atomic(str(out / "ds.inter"))) == 2 and "ds.reviews.jsonl" not in now
    assert json.loads((out / "ds.stats.json").read_text())["interactions"] == 2


def test_leftovers_of_killed_runs_are_recovered(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    rev = write(tmp_path / "raw" / "r.json", good_lines())
    root = tmp_path / "atomic_data"
    # 1. the older converter killed between its two renames: <ds>/ gone, the data in .<ds>.old-XXXX
    run(rev, root / "ds")
    mine = user_files(root / "ds")
    os.rename(root / "ds", root / ".ds.old-k1ll")
    # 2. a run killed while writing: its partial folder
    partial = root / ".ds.partial-dead"
    partial.mkdir()
    (partial / "ds.inter").write_text("half")
    (partial / output_mod.PARTIAL_MARKER).write_text(json.dumps({"pid": 2 ** 22 + 12345}))
    # 3. a hidden folder with a similar name that is not the converter's: kept
    stranger = root / ".ds.partial-notmine"
    stranger.mkdir()
    (stranger / "x").write_text("x")
    run(rev, root / "ds")
    assert "restored" in caplog.text and "removed the partial output" in caplog.text
    now = files(root / "ds")
    assert {k: now[k] for k in mine} == mine
    assert sorted(leftovers(root)) == [".ds.partial-notmine"]


def test_sigterm_cleans_up_like_ctrl_c(tmp_path):
    lines = [review(f"U{n % 5000}", f"I{n % 700}", text="x" * 50) for n in range(300_000)]
    rev = write(tmp_path / "raw" / "r.json", lines)
    out = tmp_path / "atomic_data" / "ds"
    run(write(tmp_path / "raw0" / "r.json", good_lines()), out)
    before = files(out)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "recbole_hnlm.data.convert", "amazon2018", "--input", str(rev), "--output", str(out),
         "--no-progress", "--dedup", "all"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    # the partial folder's marker is written after the signal handlers are in place
    while not list(out.parent.glob(".ds.partial-*/.recbole-hnlm-partial.json")) and proc.poll() is None \
            and time.time() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the conversion finished before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "terminated; no output written" in err
    assert leftovers(out.parent) == [] and files(out) == before


# ---------------------------------------------------------------- truncated / corrupt gzip


def complete_lines(compressed):
    """How many complete lines a gzip prefix holds (decompressed as far as it goes)."""
    d = zlib.decompressobj(wbits=31)
    return d.decompress(compressed).count(b"\n")


def test_truncated_gzip_keeps_every_line_before_the_damage(tmp_path):
    lines = [review(f"U{n}", f"I{n % 50}") for n in range(60_000)]
    blob = gzip.compress(("\n".join(lines) + "\n").encode())
    rev = tmp_path / "raw" / "r.json.gz"
    rev.parent.mkdir()
    rev.write_bytes(blob[: len(blob) // 2])
    n_good = complete_lines(blob[: len(blob) // 2])
    assert 25_000 < n_good < 35_000
    with pytest.raises(ConvertError, match=rf"r\.json\.gz: truncated or corrupt after line {n_good}\b"):
        run(rev, tmp_path / "out" / "ds")
    summary = run(rev, tmp_path / "out" / "ds", skip_bad=True)
    assert summary["rows_read"] == summary["interactions"] == n_good
    assert summary["lines_read"] == {str(rev): n_good}
    assert summary["unreadable_after_line"] == {str(rev): n_good}
    md = (tmp_path / "out" / "ds" / "ds.stats.md").read_text()
    assert f"truncated/corrupt after line {n_good:,}" in md


def test_corrupt_gzip_reads_up_to_the_damage(tmp_path):
    lines = [review(f"U{n}", f"I{n % 50}") for n in range(20_000)]
    blob = bytearray(gzip.compress(("\n".join(lines) + "\n").encode()))
    cut = len(blob) // 2
    blob[cut:cut + 64] = bytes(64)  # zeroed block in the middle of the deflate stream
    rev = tmp_path / "raw" / "r.json.gz"
    rev.parent.mkdir()
    rev.write_bytes(bytes(blob))
    summary = run(rev, tmp_path / "out" / "ds", skip_bad=True)
    n = summary["unreadable_after_line"][str(rev)]
    # everything that decompresses before the damaged bytes is read (deflate may decode some garbage
    # after them, skipped as bad lines, before the checksum fails)
    assert complete_lines(bytes(blob[:cut])) <= summary["rows_read"] <= n < 20_000


# ---------------------------------------------------------------- unisrec / LLMRank style folders


def llmrank_folder(tmp_path, train=False):
    """<P>.{valid,test}.inter with histories + a RecBole .item with titles (no .text, no index files)."""
    folder = unisrec_fixture(tmp_path / "games")
    for suffix in ("text", "user2index", "item2index"):
        (folder / f"Sci.{suffix}").unlink()
    if not train:
        (folder / "Sci.train.inter").unlink()
    write_lines(folder / "Sci.item", ["item_id:token\ttitle:token_seq\tbrand:token"]
                + [f"{i}\tGame {i}\tMaker" for i in range(7)])
    return folder


def test_unisrec_without_train_file_and_with_recbole_item_file(tmp_path):
    folder = llmrank_folder(tmp_path)
    out = tmp_path / "out" / "games"
    summary = convert("unisrec", str(folder), str(out), echo=False, progress=False)
    # A: valid history (3 items, window-cut) + valid target + test target; B: full 3 items
    assert (summary["users"], summary["interactions"]) == (2, 8)
    assert summary["splits"] == {"train": 4, "valid": 2, "test": 2}
    item = read_atomic(str(out / "games.item")).set_index("item_id")
    assert item.loc["5", "text"] == "Game 5. Maker"
    assert summary["items_without_metadata"] == 0


def test_unisrec_with_train_reads_the_item_file_and_meta(tmp_path):
    folder = llmrank_folder(tmp_path, train=True)
    (tmp_path / "dl").mkdir()
    meta = tmp_path / "dl" / "Games.item"
    os.rename(folder / "Sci.item", meta)
    out = tmp_path / "out" / "games"
    summary = convert("unisrec", str(folder), str(out), meta=str(meta), echo=False, progress=False)
    assert summary["interactions"] == 10 and summary["items_without_metadata"] == 0
    assert read_atomic(str(out / "games.item")).set_index("item_id").loc["0", "text"] == "Game 0. Maker"
    assert str(meta) in summary["inputs"]


def test_flags_a_format_does_not_use_are_errors(tmp_path):
    folder = unisrec_fixture(tmp_path / "sci")
    with pytest.raises(ConvertError, match="--users"):
        convert("unisrec", str(folder), str(tmp_path / "o" / "x"), users=str(folder / "Sci.text"), echo=False)
    write_lines(tmp_path / "lg" / "train.txt", ["0 1 2 3", "1 2 3"])
    write_lines(tmp_path / "lg" / "test.txt", ["0 4", "1 1"])
    with pytest.raises(ConvertError, match="--meta"):
        convert("lightgcn", str(tmp_path / "lg"), str(tmp_path / "o" / "x"), meta=str(folder / "Sci.text"), echo=False)
    rev = write(tmp_path / "raw" / "r.json", good_lines())
    with pytest.raises(ConvertError, match="--valid-ratio"):
        run(rev, tmp_path / "o" / "x", valid_ratio=0.2)
    with pytest.raises(ConvertError, match="--split"):
        run(rev, tmp_path / "o" / "x", split="benchmark")
    assert not (tmp_path / "o").exists() or leftovers(tmp_path / "o") == []


def test_items_without_text_are_a_loud_warning(tmp_path, caplog):
    folder = unisrec_fixture(tmp_path / "sci")  # 1 of 7 items has no text
    caplog.set_level(logging.WARNING)
    summary = convert("unisrec", str(folder), str(tmp_path / "o" / "sci"), echo=False, progress=False)
    assert any("1 of 7 items (14%) have no text" in w for w in summary["warnings"])
    assert "1 of 7 items (14%) have no text" in caplog.text
    assert "WARNING: 1 of 7 items" in (tmp_path / "o" / "sci" / "sci.stats.md").read_text()


def test_split_flag_for_pre_split_sources(tmp_path):
    folder = unisrec_fixture(tmp_path / "sci")
    out = tmp_path / "o" / "sci"
    summary = convert("unisrec", str(folder), str(out), echo=False, progress=False)
    assert summary["split"].startswith("benchmark") and "eval_args" in summary["split"]
    assert "leave-one-out" in (out / "sci.stats.md").read_text()
    summary = convert("unisrec", str(folder), str(out), split="random", echo=False, progress=False)
    assert summary["splits"] is None and summary["split"].startswith("random")
    assert "benchmark_filename" not in (out / "sci.yaml").read_text()
    assert not (out / "sci.train.inter").exists() and not (out / "sci.test.inter").exists()


# ---------------------------------------------------------------- sampling and counts


def test_sample_users_is_reproducible_and_before_k_core(tmp_path):
    lines = [review(f"U{u}", f"I{(u + k) % 30}") for u in range(200) for k in range(4)]
    rev = write(tmp_path / "raw" / "r.json", lines)
    a = run(rev, tmp_path / "o" / "a", sample_users=50, seed=7)
    b = run(rev, tmp_path / "o" / "b", sample_users=50, seed=7)
    c = run(rev, tmp_path / "o" / "c", sample_users=50, seed=8)
    assert a["users"] == 50 and a["removed"]["sample_users"] == 150 * 4
    users = lambda name: set(read_atomic(str(tmp_path / "o" / name / f"{name}.inter")).user_id)  # noqa: E731
    assert users("a") == users("b") != users("c")
    # the same sample whatever the line order
    d = run(write(tmp_path / "raw2" / "r.json", lines[::-1]), tmp_path / "o" / "d", sample_users=50, seed=7)
    assert users("d") == users("a") and d["users"] == 50
    # applied before the k-core: a 5-core of 50 sampled users of 4 items each is empty
    with pytest.raises(ConvertError, match="sample-users 600"):
        run(rev, tmp_path / "o" / "e", sample_users=50, seed=7, k_core=5)
    # a processed format goes through the same step
    write_lines(tmp_path / "p5" / "user_sequence.txt", [f"U{u} I1 I2 I{u}" for u in range(20)])
    p = convert("p5", str(tmp_path / "p5"), str(tmp_path / "o" / "p"), sample_users=5, seed=1, echo=False,
                progress=False)
    assert p["users"] == 5 and p["filters"]["sample_users"] == 5 and p["filters"]["seed"] == 1


def test_interaction_and_item_lines_are_counted_apart(tmp_path):
    rev = write(tmp_path / "raw" / "r.json", good_lines())
    meta = write(tmp_path / "raw" / "meta.json", [json.dumps({"asin": f"I{i}", "title": "t"}) for i in range(5)])
    summary = run(rev, tmp_path / "o" / "x", meta=str(meta))
    assert summary["interaction_lines_read"] == 9 and summary["item_user_lines_read"] == 5
    md = (tmp_path / "o" / "x" / "x.stats.md").read_text()
    assert "| interaction input lines read | 9 |" in md and "| item/user input lines read | 5 |" in md


def test_one_atomic_header_parser(tmp_path):
    """The converter and data.atomic read the same 'name:type' header, with the same error."""
    from recbole_hnlm.data.convert import tables

    path = tmp_path / "x.item"
    path.write_text("item_id:token\ttitle:text\nI1\tA\n")
    with pytest.raises(AtomicFileError) as a:
        read_atomic(str(path))
    with pytest.raises(ConvertError) as b:
        tables.read_header(str(path))
    assert str(a.value) == str(b.value) and "column 2 'title:text'" in str(a.value)

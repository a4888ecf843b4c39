"""The offline LLM module when things go wrong: a dead endpoint or exhausted 5xx retries stop the run
before any export, the fallback share is recorded and warned about, an embedding server's real size
is used, and two processes on one output folder ask every prompt once and export without a clash."""
import hashlib
import json
import logging
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import base_config
from fake_openai import FakeOpenAI, Reply, first_user_text, valid_answer
from recbole_hnlm.features import FeatureSet, FeatureTable
from recbole_hnlm.llm.cli import load, main
from recbole_hnlm.llm.embed import OpenAIEmbedder
from recbole_hnlm.llm.runner import TooFewAnswers

CLI_KEYS = ("data_path", "llm_chat_backend", "llm_chat_model", "llm_base_url", "llm_concurrency", "llm_max_retries",
            "llm_backoff_base", "llm_backoff_max", "llm_max_items", "llm_max_users", "llm_embedder",
            "llm_export_chunk", "show_progress", "state")


def llm_config(data_root, url, **kw):
    cfg = base_config(data_root, llm_chat_backend="openai", llm_chat_model="gpt-4o-mini", llm_base_url=url,
                      llm_timeout=5.0, llm_max_retries=1, llm_backoff_base=0.01, llm_backoff_max=0.02,
                      llm_concurrency=4, llm_max_items=30, llm_max_users=5, llm_granularity="item", llm_k=2)
    cfg.update(kw)
    return cfg


def cli(stage, cfg):
    """The command line of ``stage`` with the settings of ``cfg``, as a user types it."""
    return [sys.executable, "-m", "recbole_hnlm.llm", stage, "--dataset=hnlm-demo"] + [
        f"--{k}={v}" for k, v in cfg.items() if k in CLI_KEYS]


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there once the socket is closed


def one_in_three(body):
    return int(hashlib.sha1(first_user_text(body).encode()).hexdigest()[:8], 16) % 3 == 0


@pytest.fixture
def demo_root(tmp_path):
    root = tmp_path / "atomic_data"
    root.mkdir()
    load("hnlm-demo", config_dict=base_config(root))  # generates the demo set
    return root


def test_dead_endpoint_exits_non_zero_and_exports_nothing(demo_root):
    cfg = llm_config(demo_root, closed_port_url())
    proc = subprocess.run(cli("all", cfg), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "item_profiles: 0 of 30 jobs have a valid answer (0%), below llm_min_answered=0.5; 30 unanswered " \
           "(last transport error: APIConnectionError" in proc.stderr
    out = demo_root / "hnlm-demo" / "hnlm"
    assert not (out / "llm-item").exists() and not (out / "llm-profile").exists()
    summary = json.loads((out / "llm_summary.json").read_text())
    assert summary["stages"]["item_profiles"]["unanswered"] == 30 and "negatives" not in summary["stages"]


def test_5xx_exhaustion_stops_the_run_and_the_threshold_is_a_setting(demo_root):
    with FakeOpenAI() as server:
        server.responder = lambda body: Reply(status=503)
        with pytest.raises(TooFewAnswers, match=r"item_profiles: 0 of 30 jobs .* 30 unanswered \(last transport "
                                                r"error: InternalServerError"):
            main(["all", "--dataset=hnlm-demo"], config_dict=llm_config(demo_root, server.url))
        asked = [first_user_text(b) for b in server.chat_requests()]
        assert len(asked) == 2 * len(set(asked))  # one retry each, then given up
        # 1 in 3 unanswered leaves more than the default share answered; the run goes on and reports them
        server.responder = lambda body: Reply(status=503) if one_in_three(body) else Reply(valid_answer(body))
        summary = main(["item_profiles", "--dataset=hnlm-demo"], config_dict=llm_config(demo_root, server.url))
        s = summary["stages"]["item_profiles"]
        assert s["new_ok"] >= 15 and s["new_ok"] + s["unanswered"] == 30
        server.responder = lambda body: Reply(status=503)
        summary = main(["user_profiles", "--dataset=hnlm-demo", "--llm_min_answered=0"],
                       config_dict=llm_config(demo_root, server.url))
        assert summary["stages"]["user_profiles"]["unanswered"] == 5


def test_fallback_share_is_recorded_and_warned_about(demo_root, caplog):
    """30 of the demo's training items get LLM negatives; the rest of the export is the retrieval fallback."""
    with FakeOpenAI() as server:
        cfg = llm_config(demo_root, server.url, llm_embedder="openai:text-embedding-3-small")
        summary = main(["all", "--dataset=hnlm-demo"], config_dict=cfg)
    exp = summary["exports"]["llm-item"]
    fs = FeatureSet(str(demo_root / "hnlm-demo" / "hnlm" / "llm-item"))
    share = fs.meta["source"]["fallback_share"]
    assert share == round(exp["missing"] / exp["keys"], 4) == round(float(fs.extra("fallback").mean()), 4)
    assert 0.9 < share < 1
    assert fs.meta["dim"] == 16  # the fake server's size, not the 1536 of OpenAI's model of that name
    _, ctx = load("hnlm-demo", config_dict=cfg)
    with caplog.at_level(logging.WARNING):
        FeatureTable(fs, ctx.dataset)
    assert f"{fs.directory}: {share:.0%} of its rows are the retrieval fallback" in caplog.text


def test_openai_embedder_takes_the_dimension_of_the_answer():
    with FakeOpenAI(embed_dim=24) as server:
        emb = OpenAIEmbedder("text-embedding-3-small", base_url=server.url)
        assert emb.dim == 24
        assert emb.encode(["a", "b"]).shape == (2, 24)
        server.embed_dim = 8
        with pytest.raises(RuntimeError, match="answered 8-d vectors after 24-d ones"):
            emb.encode(["c"])


def run_both(cmd, cwd):
    procs = [subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    for p, err in zip(procs, errors):
        assert p.returncode == 0, err[-3000:]


def test_two_processes_on_one_store_ask_every_prompt_once(demo_root, tmp_path):
    with FakeOpenAI() as server:
        server.responder = lambda body: Reply(valid_answer(body), sleep=0.2)  # a stage long enough to overlap
        cfg = llm_config(demo_root, server.url, llm_max_items=80, llm_concurrency=2)
        run_both(cli("item_profiles", cfg), tmp_path)
        asked = [first_user_text(b) for b in server.chat_requests()]
    assert len(asked) == len(set(asked)) >= 75  # a few demo items share their text and are asked once
    summary = json.loads((demo_root / "hnlm-demo" / "hnlm" / "llm_summary.json").read_text())
    assert summary["stages"]["item_profiles"]["jobs"] == 80


def test_two_concurrent_exports_write_one_valid_set(demo_root, tmp_path):
    with FakeOpenAI() as server:
        cfg = llm_config(demo_root, server.url, llm_embedder="openai:text-embedding-3-small", llm_export_chunk=16)
        main(["negatives", "--dataset=hnlm-demo"], config_dict=cfg)
        server.embed_responder = lambda body: Reply(sleep=0.1)  # slow embeddings: the exports overlap
        run_both(cli("export", cfg), tmp_path)
    _, ctx = load("hnlm-demo", config_dict=cfg)
    fs = FeatureSet(str(demo_root / "hnlm-demo" / "hnlm" / "llm-item"))
    assert sorted(fs.keys.tolist()) == sorted(ctx.train_items)
    assert np.isfinite(np.asarray(fs.embeddings)).all()
    assert FeatureSet(str(demo_root / "hnlm-demo" / "hnlm" / "llm-profile")).meta["count"] == len(ctx.all_items)

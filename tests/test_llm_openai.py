"""The OpenAI-compatible backends (real ``openai`` client) against a local fake server: answers,
usage, bounded concurrency, retries on 429 / 5xx / timeouts, JSON-mode fallback, fatal errors, keys."""
import json
import logging

import numpy as np
import pytest

from fake_openai import FakeOpenAI, Reply, valid_answer
from recbole_hnlm.llm.backends import BackendError, ChatRequest, OpenAIChat, RetryPolicy
from recbole_hnlm.llm.embed import OpenAIEmbedder, get_embedder

FAST = dict(timeout=0.5, retry=RetryPolicy(max_retries=3, base=0.01, max_delay=0.05))
PROFILE_SYSTEM = "You are an expert in recommender systems who writes item profiles."


def request(i, max_new_tokens=50):
    return ChatRequest([{"role": "system", "content": PROFILE_SYSTEM},
                        {"role": "user", "content": f"Item title: thing {i}\nAttributes:\n- none"}], max_new_tokens)


@pytest.fixture
def server():
    with FakeOpenAI() as s:
        yield s


def test_chat_answers_usage_and_bounded_concurrency(server):
    def slow_valid(body):
        return Reply(valid_answer(body), sleep=0.05)

    server.responder = slow_valid
    chat = OpenAIChat("gpt-4o-mini", base_url=server.url, concurrency=3, **FAST)
    results = dict(chat.complete([request(i) for i in range(12)]))
    assert sorted(results) == list(range(12))
    for i, res in results.items():
        assert res.error is None
        assert json.loads(res.text)["summarization"].endswith(f"Item title: thing {i}")
        assert res.prompt_tokens > 0 and res.completion_tokens > 0
    bodies = server.chat_requests()
    assert len(bodies) == 12
    assert 1 < server.max_in_flight <= 3
    # the system prompt is in the system role; JSON mode is asked for; max_tokens is passed on
    assert bodies[0]["messages"][0] == {"role": "system", "content": PROFILE_SYSTEM}
    assert bodies[0]["response_format"] == {"type": "json_object"}
    assert bodies[0]["max_tokens"] == 50 and bodies[0]["model"] == "gpt-4o-mini"


def test_retries_429_and_5xx_with_backoff(server):
    script = [Reply(status=429, headers={"retry-after": "0"}), Reply(status=503), Reply(status=500)]

    def flaky(body):
        return script.pop(0) if script else Reply(valid_answer(body))

    server.responder = flaky
    chat = OpenAIChat("m", base_url=server.url, concurrency=1, **FAST)
    (_, res), = list(chat.complete([request(0)]))
    assert res.error is None and json.loads(res.text)["reasoning"] == "from the input"
    assert res.attempts == 4
    assert len(server.chat_requests()) == 4
    assert chat.retries == 3


def test_timeout_is_retried_then_given_up(server):
    calls = []

    def hang_once(body):
        calls.append(1)
        return Reply(valid_answer(body), sleep=1.0 if len(calls) == 1 else 0.0)

    server.responder = hang_once
    chat = OpenAIChat("m", base_url=server.url, concurrency=1, timeout=0.3,
                      retry=RetryPolicy(max_retries=2, base=0.01, max_delay=0.02))
    (_, res), = list(chat.complete([request(0)]))
    assert res.error is None and res.attempts == 2

    server.responder = lambda body: Reply(status=500)
    before = len(server.chat_requests())
    (_, res), = list(chat.complete([request(1)]))
    assert res.text is None and "InternalServerError" in res.error
    assert len(server.chat_requests()) - before == 3  # 1 + max_retries, then the request is reported unanswered


def test_json_mode_falls_back_when_rejected(server, caplog):
    def no_json_mode(body):
        if "response_format" in body:
            return Reply(status=400)
        return Reply("```json\n" + valid_answer(body) + "\n```")

    server.responder = no_json_mode
    chat = OpenAIChat("m", base_url=server.url, concurrency=2, **FAST)
    with caplog.at_level(logging.WARNING):
        results = dict(chat.complete([request(i) for i in range(4)]))
    assert all(r.error is None for r in results.values())
    assert chat.json_mode is False
    assert "JSON mode is off" in caplog.text
    with_mode = [b for b in server.chat_requests() if "response_format" in b]
    assert 1 <= len(with_mode) <= 2  # at most the requests already in flight
    assert len(server.chat_requests()) == 4 + len(with_mode)


def test_fatal_status_stops_the_run(server):
    server.responder = lambda body: Reply(status=401)
    chat = OpenAIChat("m", base_url=server.url, concurrency=1, **FAST)
    with pytest.raises(BackendError, match="refused"):
        list(chat.complete([request(0)]))
    assert len(server.chat_requests()) == 1


def test_api_key_comes_from_the_named_env_var_and_is_not_logged(server, monkeypatch, caplog):
    monkeypatch.setenv("HNLM_TEST_KEY", "sk-test-secret-123")
    with caplog.at_level(logging.DEBUG):
        chat = OpenAIChat("m", base_url=server.url, api_key_env="HNLM_TEST_KEY", **FAST)
        list(chat.complete([request(0)]))
    headers = {k.lower(): v for k, v in server.requests[-1][2].items()}
    assert headers.get("authorization") == "Bearer sk-test-secret-123"
    assert "sk-test-secret-123" not in caplog.text
    with pytest.raises(BackendError, match="NO_SUCH_VAR"):
        OpenAIChat("m", base_url="https://api.example.com/v1", api_key_env="NO_SUCH_VAR")


def test_openai_embedder_shapes_order_retries_and_tokens(server):
    script = [Reply(status=429)]
    server.embed_responder = lambda body: script.pop(0) if script else None
    emb = get_embedder("openai:text-embedding-3-small", base_url=server.url, batch_size=4, dimensions=12,
                       retry=RetryPolicy(3, 0.01, 0.02))
    assert isinstance(emb, OpenAIEmbedder) and emb.dim == 12
    texts = [f"text {i}" for i in range(10)] + [""]
    vec = emb.encode(texts)
    assert vec.shape == (11, 12) and vec.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), 1.0, rtol=1e-5)
    # the server answers out of order: rows must still follow the input order
    again = emb.encode(["text 3"])
    np.testing.assert_allclose(vec[3], again[0], rtol=1e-6)
    bodies = server.embedding_requests()
    assert len(bodies) == 1 + 1 + 3 + 1  # one 429, the size probe (dim), three batches of <= 4, the single text
    assert all(len(b["input"]) <= 4 and b["dimensions"] == 12 and b["encoding_format"] == "float" for b in bodies)
    assert all(t.strip() for b in bodies for t in b["input"])  # no empty string reaches the API
    assert emb.tokens > 0


def test_openai_embedder_probes_unknown_dimension(server):
    emb = OpenAIEmbedder("my-embedder", base_url=server.url)
    assert emb.dim == 16
    assert len(server.embedding_requests()) == 1

"""A local HTTP server that speaks the OpenAI chat-completions and embeddings API, for the LLM tests.

The real ``openai`` client talks to it over 127.0.0.1. Only the remote side is fake: what it answers
is decided per request by ``server.responder(body) -> Reply`` (default: a valid answer for each stage
of recbole_hnlm.llm), so a test can send malformed JSON, 429s, 5xx, 400 for JSON mode, or hang past
the client's timeout. Every request is recorded (``server.requests``) for the tests to count.
"""
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


@dataclass
class Reply:
    content: str = None  # chat answer text
    status: int = 200  # an HTTP error status when not 200
    sleep: float = 0.0  # seconds to wait before answering (longer than the client timeout: a timeout)
    headers: dict = None


def user_text(body):
    return next((m["content"] for m in reversed(body.get("messages", [])) if m["role"] == "user"), "")


def system_text(body):
    return next((m["content"] for m in body.get("messages", []) if m["role"] == "system"), "")


def first_user_text(body):
    return next((m["content"] for m in body.get("messages", []) if m["role"] == "user"), "")


def stage_of(body):
    """Which stage of recbole_hnlm.llm a chat request belongs to, from its system prompt."""
    system = system_text(body)
    if "candidate" in system:
        return "llmrec_augment"
    if "hard negative" in system:
        return "negatives"
    if "user profiles" in system:
        return "user_profiles"
    if "item profiles" in system:
        return "item_profiles"
    return "other"


def subject_line(body):
    """The first line of the first user turn (e.g. "Item title: ...")."""
    return first_user_text(body).split("\n", 1)[0]


def valid_answer(body):
    """A well-formed answer for the request's stage, deterministic in its input."""
    stage = stage_of(body)
    tag = hashlib.sha1(first_user_text(body).encode()).hexdigest()[:8]
    if stage == "negatives":
        m = re.search(r"Describe (\d+) different", first_user_text(body))
        k = int(m.group(1)) if m else 2
        negs = [{"title": f"Negative {j} {tag}", "description": f"A look-alike item {j} for {subject_line(body)}"}
                for j in range(k)]
        return json.dumps({"hard_negatives": negs})
    if stage == "llmrec_augment":
        m = re.search(r"\(1 to (\d+)\)", first_user_text(body))
        n = int(m.group(1)) if m else 2
        liked = int(tag, 16) % n
        return json.dumps({"liked": liked + 1, "disliked": (liked + 1) % n + 1})
    return json.dumps({"summarization": f"Profile {tag} of {subject_line(body)}", "reasoning": "from the input"})


def vector(text, dim):
    seed = int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)
    return np.random.RandomState(seed).normal(size=dim).round(6).tolist()


class FakeOpenAI:
    """``with FakeOpenAI() as server: OpenAI(base_url=server.url, ...)``."""

    def __init__(self, embed_dim=16):
        self.embed_dim = embed_dim
        self.requests = []  # (path, body, headers)
        self.responder = lambda body: Reply(valid_answer(body))
        self.embed_responder = lambda body: None  # None: normal vectors; a Reply: that instead
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, obj, headers=None):
                data = json.dumps(obj).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.requests.append((self.path, body, dict(self.headers)))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if self.path.endswith("/chat/completions"):
                        self._chat(body)
                    elif self.path.endswith("/embeddings"):
                        self._embeddings(body)
                    else:
                        self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _error(self, reply):
                self._send(reply.status, {"error": {"message": f"fake error {reply.status}", "type": "fake",
                                                    "code": reply.status}}, reply.headers)

            def _chat(self, body):
                reply = server.responder(body)
                if reply.sleep:
                    time.sleep(reply.sleep)
                if reply.status != 200:
                    return self._error(reply)
                prompt_tokens = sum(len(m["content"]) // 4 + 4 for m in body["messages"])
                completion_tokens = len(reply.content) // 4
                self._send(200, {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply.content}}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                              "total_tokens": prompt_tokens + completion_tokens},
                })

            def _embeddings(self, body):
                reply = server.embed_responder(body)
                if reply is not None:
                    if reply.sleep:
                        time.sleep(reply.sleep)
                    if reply.status != 200:
                        return self._error(reply)
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                dim = int(body.get("dimensions") or server.embed_dim)
                tokens = sum(len(t) // 4 + 1 for t in texts)
                self._send(200, {
                    "object": "list", "model": body.get("model"),
                    "data": [{"object": "embedding", "index": i, "embedding": vector(t, dim)}
                             for i, t in reversed(list(enumerate(texts)))],  # out of order on purpose
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                })

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def chat_requests(self, stage=None):
        with self.lock:
            reqs = [b for p, b, _ in self.requests if p.endswith("/chat/completions")]
        return [b for b in reqs if stage is None or stage_of(b) == stage]

    def embedding_requests(self):
        with self.lock:
            return [b for p, b, _ in self.requests if p.endswith("/embeddings")]

"""Token usage, cost estimates and throughput of the LLM stages.

Prices are USD per million tokens, ``[input, output]`` for chat models and ``[input]`` for
embedding models; the table is ``llm_prices`` in ``properties/llm.yaml`` and ``llm_price`` /
``llm_embed_price`` override it for the run's model. Local models cost nothing. The dry run has no
tokenizer at hand, so it estimates ~4 characters per token (English text) and counts the full
``max_new_tokens`` for every answer: an upper bound on output.
"""
import math
from dataclasses import asdict, dataclass, field

CHARS_PER_TOKEN = 4.0
TOKENS_PER_MESSAGE = 4


def estimate_tokens(messages):
    """Rough prompt tokens of chat messages (see the module docstring)."""
    return sum(TOKENS_PER_MESSAGE + math.ceil(len(m["content"]) / CHARS_PER_TOKEN) for m in messages)


def _strip_provider(model):
    return model.split(":", 1)[1] if ":" in model else model


def chat_price(config, model_id):
    """``(input, output)`` USD per 1M tokens for ``model_id`` (``openai:<name>``), or None when unknown."""
    if not model_id.startswith("openai:"):
        return (0.0, 0.0)
    if config["llm_price"]:
        p = list(config["llm_price"])
        return float(p[0]), float(p[1] if len(p) > 1 else p[0])
    table = config["llm_prices"]
    name = _strip_provider(model_id)
    for key in sorted(table, key=len, reverse=True):  # longest prefix: gpt-4o-mini before gpt-4o
        if name == key or name.startswith(key + "-"):
            p = list(table[key])
            return float(p[0]), float(p[1] if len(p) > 1 else p[0])
    return None


def embed_price(config, embedder_name):
    if not str(embedder_name).startswith("openai:"):
        return 0.0
    if config["llm_embed_price"] is not None:
        return float(config["llm_embed_price"])
    p = config["llm_prices"].get(_strip_provider(embedder_name))
    return float(p[0]) if p else None


def cost(prompt_tokens, completion_tokens, price):
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6


@dataclass
class StageStats:
    """What one stage did in this run (``cached``: answers read back, ``new``: answers asked for)."""

    stage: str
    prompt_version: str = ""
    model: str = ""
    jobs: int = 0
    cached: int = 0
    cached_failed: int = 0
    new_ok: int = 0
    new_failed: int = 0
    unanswered: int = 0  # transport errors after all retries; retried by the next run
    last_error: str = None  # the last of those errors
    requests: int = 0  # requests sent, JSON retries included
    repaired_by_retry: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    est_prompt_tokens: int = 0  # dry run
    est_completion_tokens: int = 0  # dry run
    cost_usd: float = None
    failures: list = field(default_factory=list)  # [{"subject", "error", "answer"}], first few

    def throughput(self):
        done = self.new_ok + self.new_failed
        if not self.seconds or not done:
            return {}
        return {
            "per_second": done / self.seconds,
            "completion_tokens_per_second": self.completion_tokens / self.seconds,
        }

    def as_dict(self):
        out = asdict(self)
        out.update(self.throughput())
        return out

    def line(self):
        if self.est_prompt_tokens or self.est_completion_tokens:
            money = f", at most ~${self.cost_usd:.4f}" if self.cost_usd else ""
            return (f"{self.stage}: {self.jobs} jobs, {self.cached} cached, {self.requests} calls to make, "
                    f"~{self.est_prompt_tokens} prompt + <= {self.est_completion_tokens} completion tokens{money}")
        tp = self.throughput()
        rate = f", {tp['per_second']:.3f}/s, {tp['completion_tokens_per_second']:.1f} tok/s" if tp else ""
        money = f", ~${self.cost_usd:.4f}" if self.cost_usd else ""
        return (
            f"{self.stage}: {self.jobs} jobs, {self.cached} cached ({self.cached_failed} failed earlier), "
            f"{self.new_ok} new ok, {self.new_failed} failed, {self.unanswered} unanswered; "
            f"{self.requests} requests, {self.prompt_tokens}+{self.completion_tokens} tokens "
            f"in {self.seconds:.1f}s{rate}{money}"
        )

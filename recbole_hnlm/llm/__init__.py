"""The offline side: text embedders, LLM profiles and hard negatives, fine-tuning, export.

Nothing heavy is imported here; each stage imports its own backends when it runs.
"""

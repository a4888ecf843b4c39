"""SCFT's settings: one object, filled from the config and checked before any work (peft's config dataclass).

The defaults live in ``recbole_hnlm/properties/scft.yaml`` only: every field is the config's
``scft_<field>``, checked in ``__post_init__`` against that key's declaration in the yaml
(:mod:`recbole_hnlm.settings`), so a bad value fails before the teacher, the texts or the LLM are touched.
"""
from dataclasses import dataclass, fields
from typing import Optional

from recbole_hnlm.settings import declarations

PREFIX = "scft_"


@dataclass(frozen=True)
class SCFTSettings:
    # the CF teacher
    teacher: Optional[str]
    label_source: str
    dns_m: int
    representative: str
    # where things go
    run: str
    dir: Optional[str]
    # the LLM (Eq. 11)
    base_model: str
    chat_template: bool
    instruction: str
    prompt_version: int
    soft_tokens: int
    mlp_hidden: Optional[int]
    soft_scale: bool
    cf_normalize: bool
    profile_tokens: int
    label_tokens: int
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    lora_targets: list
    load_in_4bit: bool
    mixed_precision: str
    threads: Optional[int]
    # a sentence-transformers base model (llm/scft/encoder.py)
    encoder_label: str
    encoder_candidates: int
    # training (Eq. 12)
    tau: float
    batch_size: int
    grad_accum: int
    epochs: int
    max_steps: Optional[int]
    max_pairs: Optional[int]
    eval_pairs: int
    eval_batch_size: Optional[int]
    lr: float
    mlp_lr: Optional[float]
    weight_decay: float
    scheduler: str
    warmup_ratio: float
    max_grad_norm: float
    log_steps: int
    eval_steps: int
    save_steps: int
    keep_checkpoints: int
    seed: int
    stop_after_steps: Optional[int]
    # export
    model: Optional[str]
    granularity: str
    feature: Optional[str]
    export_items: bool
    export_batch_size: int
    export_chunk: int

    def __post_init__(self):
        declared = declarations()
        for f in fields(self):
            object.__setattr__(self, f.name, declared[PREFIX + f.name].check(getattr(self, f.name)))

    @classmethod
    def from_config(cls, config):
        """The settings of ``config`` (a Config with ``scft.yaml`` loaded, or any mapping of ``scft_`` keys)."""
        return cls(**{f.name: config[PREFIX + f.name] for f in fields(cls)})

    @property
    def eval_batch(self):
        """Candidates per query in the retrieval accuracy: ``scft_eval_batch_size``, None meaning ``scft_batch_size``."""
        return self.batch_size if self.eval_batch_size is None else self.eval_batch_size

    @property
    def mlp_learning_rate(self):
        """Peak learning rate of the MLP: ``scft_mlp_lr``, None meaning ``scft_lr``."""
        return self.lr if self.mlp_lr is None else self.mlp_lr

    @property
    def feature_name(self):
        """Name of the exported feature set: ``scft_feature``, None meaning ``scft-<granularity>``."""
        return f"scft-{self.granularity}" if self.feature is None else self.feature

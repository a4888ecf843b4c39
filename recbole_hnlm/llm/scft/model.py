"""The SCFT model: a causal LM with LoRA adapters and an MLP that turns CF embeddings into soft tokens.

* Eq. 11: the query's placeholder positions get MLP(e_u) and MLP(e_v) as input embeddings
  (``inputs_embeds``); the MLP is :class:`recbole_hnlm.model.layers.Projector` from the CF dimension
  to ``scft_soft_tokens`` x the LLM's hidden size.
* Eq. 12: queries and labels alike are embedded by :func:`pool_eos`, the last-layer hidden state at
  the final (appended) EOS token; training and export call the same :meth:`SCFTModel.encode`.
* The base weights are frozen; only the LoRA adapters (peft, on the attention projections) and the
  MLP are trained. The LM head is never run: the backbone's last hidden state is all Eq. 12 needs.

A fine-tuned model is a folder (:func:`save_scft` / :func:`load_scft`): ``adapter/`` (peft),
``cf_mlp.pt`` and ``scft.json`` (base model, CF dimension, prompt settings). The base model itself
is not copied; ``scft.json`` names it (``smollm2`` or a local path).
"""
import json
import logging
import os
import time

import torch
from torch import nn

from recbole_hnlm.checkpoint import load_file
from recbole_hnlm.files import atomic_write_json
from recbole_hnlm.llm.scft.settings import SCFTSettings
from recbole_hnlm.model.layers import Projector

META_FILE = "scft.json"
MLP_FILE = "cf_mlp.pt"
ADAPTER_DIR = "adapter"


def pool_eos(hidden, attention_mask):
    """The hidden state at each row's last real token, which is the appended EOS (right padding).

    The single pooling of Eq. 12, for queries and labels, in training and in export.
    """
    last = attention_mask.long().sum(dim=1) - 1
    if bool((last < 0).any()):
        raise ValueError("an empty sequence reached the encoder")
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def model_files(spec):
    """``(folder, gguf file or None)`` of a local model: ``smollm2``, a model folder or a ``.gguf`` file."""
    from recbole_hnlm.llm.backends import resolve_local_model

    return resolve_local_model(spec)


def base_model_id(spec):
    """What ``scft.json`` records of the base model: ``smollm2`` / ``minilm`` or an absolute path."""
    if spec in (None, "", "smollm2", "minilm"):
        return spec or "smollm2"
    if spec.startswith("st:"):
        return "st:" + os.path.abspath(os.path.expanduser(spec[3:]))
    return os.path.abspath(os.path.expanduser(spec))


def load_tokenizer(spec):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    folder, gguf = model_files(spec)
    tok = AutoTokenizer.from_pretrained(folder, **({"gguf_file": gguf} if gguf else {}))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_base_model(spec, load_in_4bit=False, device_index=None, dtype=None):
    """The frozen causal LM named by ``spec``; ``load_in_4bit`` needs a GPU and bitsandbytes."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM

    folder, gguf = model_files(spec)
    kwargs = {"gguf_file": gguf} if gguf else {}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if load_in_4bit:
        if not torch.cuda.is_available():
            raise RuntimeError("scft_load_in_4bit=True needs a CUDA GPU; set it to False on this machine")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as e:
            raise ImportError("scft_load_in_4bit=True needs `pip install bitsandbytes`") from e
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
        kwargs["device_map"] = {"": device_index or 0}
    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    if load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    logging.getLogger().info(f"SCFT base model {gguf or folder}: loaded in {time.perf_counter() - start:.1f}s "
                             f"({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters)")
    return model


def add_lora(model, r, alpha, dropout, targets):
    """LoRA adapters on ``targets`` (module names); everything else is frozen by peft."""
    from peft import LoraConfig, get_peft_model

    targets = list(targets)
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in targets if t not in names]
    if missing:
        raise ValueError(f"scft_lora_targets {missing} are not modules of {type(model).__name__} "
                         f"(attention projections there: {sorted(n for n in names if 'proj' in n)})")
    cfg = LoraConfig(r=int(r), lora_alpha=int(alpha), lora_dropout=float(dropout), target_modules=targets,
                     bias="none")
    return get_peft_model(model, cfg)


class SCFTModel(nn.Module):
    """``encode`` = EOS pooling of the LoRA LM over token ids with soft tokens from the CF MLP (Eq. 11-12)."""

    def __init__(self, lm, cf_dim, soft_tokens=1, mlp_hidden=None):
        super().__init__()
        self.lm = lm
        self.hidden_size = int(lm.config.hidden_size)
        self.cf_dim = int(cf_dim)
        self.soft_tokens = int(soft_tokens)
        self.cf_mlp = Projector(self.cf_dim, int(mlp_hidden or self.hidden_size), self.soft_tokens * self.hidden_size)

    @torch.no_grad()
    def match_soft_scale(self, probes=256, seed=0):
        """Rescale the MLP's output layer so that soft tokens start with the norm of the LLM's token embeddings.

        Eq. 11 puts MLP(e) into the token-embedding space; a default-initialised MLP lands well inside
        it (SmolLM2: ~1.1 against ~3.2), which mutes the CF signal at the start of training.
        """
        target = self.backbone().get_input_embeddings().weight.float().norm(dim=1).mean()
        gen = torch.Generator().manual_seed(seed)
        x = torch.nn.functional.normalize(torch.randn(probes, 2, self.cf_dim, generator=gen), dim=-1)
        param = next(self.cf_mlp.parameters())
        current = self.soft_embeddings(x.to(param.device, param.dtype)).norm(dim=-1).mean()
        last = self.cf_mlp.net[-1]
        last.weight.mul_(target / current)
        last.bias.mul_(target / current)
        return float(target)

    def backbone(self):
        base = self.lm.get_base_model() if hasattr(self.lm, "get_base_model") else self.lm
        return getattr(base, base.base_model_prefix, base)

    def soft_embeddings(self, cf):
        """MLP(e) for a B x 2 x cf_dim batch of (e_u, e_v): B x (2 soft_tokens) x hidden."""
        if cf.shape[-1] != self.cf_dim:
            raise ValueError(f"CF embeddings have dimension {cf.shape[-1]}, the model's MLP takes {self.cf_dim} "
                             f"(a fine-tuned model only works with teachers of that embedding size)")
        soft = self.cf_mlp(cf.float())
        return soft.reshape(cf.shape[0], 2 * self.soft_tokens, self.hidden_size)

    def encode(self, input_ids, attention_mask, soft_positions=None, cf=None):
        """Embedding of each sequence: the last-layer state at its final EOS (:func:`pool_eos`)."""
        backbone = self.backbone()
        embeds = backbone.get_input_embeddings()(input_ids)
        if soft_positions is not None:
            soft = self.soft_embeddings(cf).to(embeds.dtype)
            rows = torch.arange(len(input_ids), device=input_ids.device).unsqueeze(1).expand_as(soft_positions)
            embeds = embeds.index_put((rows.reshape(-1), soft_positions.reshape(-1)), soft.reshape(-1, soft.shape[-1]))
        hidden = backbone(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
        return pool_eos(hidden, attention_mask).float()

    def forward(self, input_ids, attention_mask, soft_positions, cf, label_ids=None, label_mask=None):
        """``(query embeddings, label embeddings or None)`` of a batch (one call, so DDP sees one forward)."""
        query = self.encode(input_ids, attention_mask, soft_positions, cf)
        label = self.encode(label_ids, label_mask) if label_ids is not None else None
        return query, label

    def trainable_state(self):
        """Adapter and MLP weights only (what a checkpoint must keep)."""
        from peft import get_peft_model_state_dict

        return {"adapter": get_peft_model_state_dict(self.lm), "cf_mlp": self.cf_mlp.state_dict()}

    def load_trainable_state(self, state):
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(self.lm, state["adapter"])
        self.cf_mlp.load_state_dict(state["cf_mlp"])


def build_scft_model(config, cf_dim, device_index=None):
    """A fresh :class:`SCFTModel` from the config (base model, LoRA and MLP settings)."""
    s = SCFTSettings.from_config(config)
    torch.manual_seed(s.seed)
    base = load_base_model(s.base_model, s.load_in_4bit, device_index)
    lm = add_lora(base, s.lora_r, s.lora_alpha, s.lora_dropout, s.lora_targets)
    model = SCFTModel(lm, cf_dim, s.soft_tokens, s.mlp_hidden)
    if s.soft_scale:
        model.match_soft_scale()
    return model


def save_scft(model, directory, meta):
    """Write a fine-tuned model folder: adapter, MLP and ``scft.json`` (last, so a folder with it is complete)."""
    os.makedirs(directory, exist_ok=True)
    model.lm.save_pretrained(os.path.join(directory, ADAPTER_DIR))
    torch.save(model.cf_mlp.state_dict(), os.path.join(directory, MLP_FILE))
    meta = dict(meta, cf_dim=model.cf_dim, soft_tokens=model.soft_tokens, hidden_size=model.hidden_size,
                mlp_hidden=int(model.cf_mlp.net[0].out_features))
    atomic_write_json(os.path.join(directory, META_FILE), meta, indent=2, sort_keys=True)


def read_meta(directory):
    path = os.path.join(directory, META_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing; {directory} is not a finished SCFT model "
                                f"(run `python -m recbole_hnlm.llm.scft finetune` first)")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_scft(directory, device="cpu", merge=True):
    """``(model, tokenizer, meta)`` of a fine-tuned model folder, in eval mode (adapters merged when ``merge``)."""
    from peft import PeftModel

    meta = read_meta(directory)
    for name in (ADAPTER_DIR, MLP_FILE):
        if not os.path.exists(os.path.join(directory, name)):
            raise FileNotFoundError(f"{os.path.join(directory, name)}: missing from the SCFT model folder")
    tok = load_tokenizer(meta["base_model"])
    base = load_base_model(meta["base_model"])
    lm = PeftModel.from_pretrained(base, os.path.join(directory, ADAPTER_DIR), is_trainable=False)
    if merge:
        lm = lm.merge_and_unload()  # same function, faster forward passes
    model = SCFTModel(lm, meta["cf_dim"], meta["soft_tokens"], meta["mlp_hidden"])
    model.cf_mlp.load_state_dict(load_file(os.path.join(directory, MLP_FILE)))
    return model.to(device).eval(), tok, meta

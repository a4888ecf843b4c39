"""A tiny random Llama-style causal LM with an offline word-level tokenizer, for SCFT tests."""
import os

from recbole_hnlm.data.demo import BRANDS, CATEGORIES, COLORS

SPECIAL = ["<pad>", "<unk>", "</s>"]
PROMPT_WORDS = """Instruction Given a user and an item the user interacted with describe an item that would find
similar tempting but not choose User profile Item collaborative embedding Recently chose item categories brand
description Shop A by in . : ; , > - toy alpha beta gamma delta""".split()


def build_tiny_model(directory, hidden_size=32, layers=2, heads=2, seed=0):
    """Write a tiny ``LlamaForCausalLM`` and its tokenizer into ``directory`` (a local HF model folder)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = set(PROMPT_WORDS) | set(BRANDS) | set(COLORS)
    for cat, styles in CATEGORIES.items():
        words |= set(cat.split()) | set(cat.title().split())
        for s in styles:
            words |= set(s.replace("-", " - ").split())
    vocab = {w: i for i, w in enumerate(SPECIAL + sorted(words))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    torch.manual_seed(seed)
    config = LlamaConfig(hidden_size=hidden_size, num_hidden_layers=layers, num_attention_heads=heads,
                         num_key_value_heads=heads, intermediate_size=2 * hidden_size, vocab_size=len(vocab),
                         max_position_embeddings=512, pad_token_id=vocab["<pad>"], eos_token_id=vocab["</s>"],
                         bos_token_id=None)
    os.makedirs(directory, exist_ok=True)
    LlamaForCausalLM(config).save_pretrained(directory)
    tok.save_pretrained(directory)
    return str(directory)

"""Tiny random models for SCFT tests: a Llama-style causal LM and a BERT sentence-transformers encoder, offline."""
import os

from recbole_hnlm.data.demo import BRANDS, CATEGORIES, COLORS

SPECIAL = ["<pad>", "<unk>", "</s>"]
PROMPT_WORDS = """Instruction Given a user and an item the user interacted with describe an item that would find
similar tempting but not choose User profile Item collaborative embedding Recently chose item categories brand
description Shop A by in . : ; , > - toy alpha beta gamma delta""".split()


def _words():
    """Every word of the prompts and of the demo set's item texts."""
    words = set(PROMPT_WORDS) | set(BRANDS) | set(COLORS)
    for cat, styles in CATEGORIES.items():
        words |= set(cat.split()) | set(cat.title().split())
        for s in styles:
            words |= set(s.replace("-", " - ").split())
    return words


def build_tiny_model(directory, hidden_size=32, layers=2, heads=2, seed=0):
    """Write a tiny ``LlamaForCausalLM`` and its tokenizer into ``directory`` (a local HF model folder)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIAL + sorted(_words()))}
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


def build_tiny_encoder(directory, hidden_size=32, layers=2, heads=2, seed=0):
    """Write a tiny BERT sentence-transformers model (own WordPiece vocab, mean pooling) into ``directory``."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = {w.lower() for w in _words() | {"user", "item", "user:", "item:"}}
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(words | set(".:;,>-0123456789"))
    bert_dir = os.path.join(directory, "bert")
    os.makedirs(bert_dir, exist_ok=True)
    with open(os.path.join(bert_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    BertTokenizerFast(os.path.join(bert_dir, "vocab.txt"), do_lower_case=True).save_pretrained(bert_dir)
    torch.manual_seed(seed)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=hidden_size, num_hidden_layers=layers,
                         num_attention_heads=heads, intermediate_size=2 * hidden_size,
                         max_position_embeddings=128)).save_pretrained(bert_dir)
    word = Transformer(bert_dir, max_seq_length=64)
    model = SentenceTransformer(modules=[word, Pooling(hidden_size, pooling_mode="mean")], device="cpu")
    out = os.path.join(directory, "st")
    model.save(out)
    return out

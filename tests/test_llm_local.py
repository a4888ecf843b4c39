"""The local backends with a tiny random Llama built offline (and, marked slow, the real SmolLM2):
batched left-padded greedy generation, prefill, token counts, hidden-state embeddings, a full run."""
import json

import numpy as np
import pytest

from conftest import base_config

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CORPUS = [
    'You are an expert in recommender systems. {"summarization": "a movie", "reasoning": "genre"}',
    "Item title: Toy Story. Attributes: release year 1995, class Animation Children's Comedy.",
    "hard negatives title description user profile item profile reviews history JSON object",
] * 20


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A 2-layer, 32-wide random Llama with a byte-level BPE tokenizer, saved as a model folder."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|im_end|>", "<|im_start|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|im_end|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, bos_token_id=None)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    return str(folder)


def messages(i):
    return [{"role": "system", "content": "You are an expert in recommender systems."},
            {"role": "user", "content": "Item title: Toy Story" + " and more" * i}]


def test_batched_left_padded_generation_matches_one_by_one(tiny_model):
    from recbole_hnlm.llm.backends import ChatRequest, LocalChat, render_chat

    reqs = [ChatRequest(messages(i), max_new_tokens=10, prefill='{"summarization": "') for i in (0, 5, 1, 9, 3)]
    batched = LocalChat(tiny_model, batch_size=4, stop_at_json=False)
    single = LocalChat(tiny_model, batch_size=1, stop_at_json=False)
    assert batched.model_id == f"local:{tiny_model.rstrip('/').split('/')[-1]}"
    a = dict(batched.complete(reqs))
    b = dict(single.complete(reqs))
    assert sorted(a) == list(range(5))
    tok = batched.tokenizer
    for i, req in enumerate(reqs):
        assert a[i].text == b[i].text
        assert a[i].text.startswith('{"summarization": "')
        prompt = render_chat(tok, req.messages, req.prefill)
        assert prompt.startswith("<|im_start|>system\nYou are") and prompt.endswith('assistant\n{"summarization": "')
        assert a[i].prompt_tokens == len(tok(prompt, add_special_tokens=False)["input_ids"])
        assert 0 < a[i].completion_tokens <= 10
    assert len({a[i].text for i in a}) > 1  # the batch did not collapse to one answer


def test_plain_layout_without_chat_template(tiny_model):
    from recbole_hnlm.llm.backends import load_local_lm, render_chat

    tok, _ = load_local_lm(tiny_model)

    class NoTemplate:
        chat_template = None

    text = render_chat(NoTemplate(), messages(0), "{")
    assert text == "<|system|>\nYou are an expert in recommender systems.\n<|user|>\nItem title: Toy Story\n<|assistant|>\n{"
    assert tok.chat_template  # the real one is used when present


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_hidden_state_embedder(tiny_model, pooling):
    from recbole_hnlm.llm.embed import LLMHiddenStateEmbedder, get_embedder

    emb = get_embedder(f"llm:{tiny_model}", pooling=pooling, batch_size=3)
    assert isinstance(emb, LLMHiddenStateEmbedder) and emb.dim == 32 and emb.name.endswith(f"#{pooling}")
    texts = ["Toy Story", "a much longer text about a movie with talking toys and a cowboy", "JSON", "Toy Story"]
    vec = emb.encode(texts)
    assert vec.shape == (4, 32) and vec.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vec[0], vec[3], atol=1e-6)
    alone = emb.encode(["Toy Story"])  # padding in a batch must not change a text's vector
    np.testing.assert_allclose(vec[0], alone[0], atol=1e-5)
    assert not np.allclose(vec[0], vec[1])
    with pytest.raises(ValueError, match="pooling"):
        get_embedder(f"llm:{tiny_model}", pooling="max")


def test_full_run_with_local_model(tiny_model, data_root):
    from recbole_hnlm.features import FeatureSet
    from recbole_hnlm.llm.cli import main

    cfg = base_config(data_root, llm_chat_backend="local", llm_chat_model=tiny_model, llm_batch_size=4,
                      llm_max_items=6, llm_max_users=3, llm_granularity="user", llm_k=2,
                      llm_profile_tokens=12, llm_negative_tokens=12, llm_embedder=f"llm:{tiny_model}",
                      llm_embed_pooling="last", llm_min_answered=0)  # a random tiny model rarely writes JSON
    summary = main(["all", "--dataset=hnlm-demo"], config_dict=cfg)
    st = summary["stages"]
    assert st["item_profiles"]["jobs"] == 6 and st["user_profiles"]["jobs"] == 3 and st["negatives"]["jobs"] == 3
    for s in st.values():
        assert s["new_ok"] + s["new_failed"] == s["jobs"]
        assert s["completion_tokens"] > 0 and s["cost_usd"] == 0.0
        assert s["model"] == summary["model"] and summary["model"].startswith("local:")
    out = data_root / "hnlm-demo" / "hnlm"
    neg = FeatureSet(str(out / "llm-user"))
    # all 600 demo users are exported; the 597 outside llm_max_users get the retrieval fallback
    exp = summary["exports"]["llm-user"]
    assert neg.meta["granularity"] == "user" and neg.meta["dim"] == 32 and neg.meta["count"] == 600
    assert exp["outside_subset"] == 597 and exp["generated"] == 3 - st["negatives"]["new_failed"]
    assert int(neg.extra("fallback").sum()) == exp["missing"] == 600 - exp["generated"]
    assert neg.meta["source"]["embedder"].endswith("#last")
    prof = FeatureSet(str(out / "llm-profile"))
    assert prof.meta["count"] == 480 and prof.meta["dim"] == 32
    again = main(["all", "--dataset=hnlm-demo"], config_dict=cfg)
    assert all(s["requests"] == 0 and s["cached"] == s["jobs"] for s in again["stages"].values())
    assert {e["status"] for e in again["exports"].values()} == {"up to date"}


@pytest.mark.slow
def test_smollm2_profiles_and_negatives(data_root):
    """The real SmolLM2-135M-Instruct on a handful of demo items, end to end."""
    from recbole_hnlm.features import FeatureSet
    from recbole_hnlm.llm.cli import main

    cfg = base_config(data_root, llm_chat_backend="local", llm_chat_model="smollm2", llm_batch_size=4,
                      llm_max_items=3, llm_max_users=1, llm_granularity="item", llm_k=2,
                      llm_profile_tokens=60, llm_negative_tokens=80, llm_num_threads=1)
    summary = main(["all", "--dataset=hnlm-demo"], config_dict=cfg)
    st = summary["stages"]
    assert st["item_profiles"]["jobs"] == 3 and st["user_profiles"]["jobs"] == 1
    assert st["item_profiles"]["new_ok"] >= 2  # the prefill keeps even a 135M model on JSON
    assert summary["model"] == "local:SmolLM2-135M-Instruct.Q4_1.gguf"
    out = data_root / "hnlm-demo" / "hnlm"
    neg = FeatureSet(str(out / "llm-item"))
    exp = summary["exports"]["llm-item"]
    assert neg.meta["count"] == st["negatives"]["jobs"] + exp["outside_subset"]
    assert neg.meta["dim"] == 384 and neg.meta["k"] == 2
    with open(out / "llm_summary.json") as f:
        assert json.load(f)["stages"]["item_profiles"]["completion_tokens"] > 0

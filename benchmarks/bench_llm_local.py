"""Throughput of the local LLM stage against this machine's limit: generated tokens/s of the local chat
backend (SmolLM2-135M by default) per batch size, and texts/s of the local text embedder.

    python benchmarks/bench_llm_local.py [--batch_sizes 1 8 32] [--prompts 32] [--new_tokens 48]
           [--threads 1] [--model smollm2] [--json rows.json]
    python benchmarks/bench_llm_local.py --smoke       # 4 prompts, 8 new tokens, batch 1 and 4

The limit is derived, not assumed. Prefilling T prompt tokens takes at least 2 x P x T FLOPs (P
parameters); one decode step of a batch of B rows reads every weight once (P x bytes per weight) and
does about 2 x P x B FLOPs (attention over these short contexts is a few percent more). So a run can
take no less than

    2 x P x prompt tokens / matmul rate + sum over batches of new tokens x max(P x bytes / bandwidth, 2 x P x B / matmul rate)

with the bandwidth (a large tensor copy, bytes read + written) and the matmul rate (float32 square
matmuls) measured here, in this process, with the same thread count. "limit tok/s" is the generated
tokens over that time, "share of limit" the time bound over the measured wall time. The generation rows
use the package's ``LocalChat`` (left padding, prompts sorted by length, KV cache), with every answer
forced to ``--new_tokens`` tokens (no JSON stop, no EOS stop) so that tokens/s counts real decode steps;
the prompts are item-profile-like requests built from the demo generator's item texts.
"""
import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def matmul_gflops(n=1024, seconds=2.0):
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        done += 1
    return 2 * n ** 3 * done / (time.perf_counter() - start) / 1e9


def copy_gbs(mb=512, seconds=2.0):
    import torch

    src = torch.empty(mb * 2 ** 20 // 4, dtype=torch.float32).normal_()
    dst = torch.empty_like(src)
    dst.copy_(src)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        dst.copy_(src)
        done += 1
    return 2 * src.numel() * 4 * done / (time.perf_counter() - start) / 1e9  # read + write


def batch_rows(n_prompts, batch_size):
    """Rows of each generation batch: ``LocalChat`` cuts the sorted prompts into chunks of ``batch_size``."""
    return [min(batch_size, n_prompts - start) for start in range(0, n_prompts, batch_size)]


def limit_seconds(params, bytes_per, gflops, gbs, prompt_tokens, batches, new_tokens):
    """The least time the machine needs for the run (see the module docstring)."""
    flops, bandwidth = gflops * 1e9, gbs * 1e9
    prefill = 2 * params * prompt_tokens / flops
    decode = sum(new_tokens * max(params * bytes_per / bandwidth, 2 * params * b / flops) for b in batches)
    return prefill + decode


def demo_texts(n):
    """Item texts of the demo generator (title, category path, brand, description), in item order."""
    from recbole_hnlm.data.atomic import item_texts
    from recbole_hnlm.data.demo import generate

    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "demo")
        generate(folder)
        texts = list(item_texts(folder).values())
    return texts[:n]


def prompt_requests(texts, new_tokens):
    from recbole_hnlm.llm.backends import ChatRequest

    return [ChatRequest(messages=[
        {"role": "system", "content": "You describe products for a recommender system."},
        {"role": "user", "content": f"Item: {t}\nIn one sentence, what kind of user would enjoy this item?"},
    ], max_new_tokens=new_tokens) for t in texts]


def generation_row(chat, requests, batch_size, new_tokens):
    import torch

    chat.batch_size = batch_size
    model = chat.model
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = None  # every row decodes exactly new_tokens steps
    try:
        chat.complete(requests[:batch_size]).__next__()  # warm-up batch (allocations, first-call costs)
        start = time.perf_counter()
        cpu = time.process_time()
        results = [r for _, r in chat.complete(requests)]
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        model.generation_config.eos_token_id = saved
    generated = len(requests) * new_tokens
    prompt_tokens = sum(r.prompt_tokens for r in results)
    return {"batch_size": batch_size, "prompts": len(requests), "prompt_tokens": prompt_tokens,
            "generated_tokens": generated, "wall_s": wall, "cpu_s": cpu, "tokens_per_s": generated / wall,
            "threads": torch.get_num_threads()}


def embedder_row(texts, batch_size):
    from recbole_hnlm.features.embedder import local_text_embedder

    emb = local_text_embedder("minilm", batch_size=batch_size)
    emb.encode(texts[:batch_size])
    start = time.perf_counter()
    emb.encode(texts)
    wall = time.perf_counter() - start
    return {"embedder": emb.name, "texts": len(texts), "batch_size": batch_size, "wall_s": wall,
            "texts_per_s": len(texts) / wall}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2", help="local chat model (as llm_chat_model)")
    parser.add_argument("--batch_sizes", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--new_tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--embed_texts", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true", help="4 prompts, 8 new tokens, batches 1 and 4")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.smoke:
        args.batch_sizes, args.prompts, args.new_tokens, args.embed_texts = [1, 4], 4, 8, 32

    import torch

    torch.set_num_threads(args.threads)
    from recbole_hnlm.llm.backends import LocalChat

    gflops, gbs = matmul_gflops(), copy_gbs()
    chat = LocalChat(args.model, batch_size=1, prefill=False, stop_at_json=False)
    params = sum(p.numel() for p in chat.model.parameters())
    bytes_per = next(chat.model.parameters()).element_size()
    texts = demo_texts(max(args.prompts, args.embed_texts))
    requests = prompt_requests((texts * (args.prompts // max(1, len(texts)) + 1))[: args.prompts], args.new_tokens)
    rows = []
    for b in args.batch_sizes:
        row = generation_row(chat, requests, b, args.new_tokens)
        row["limit_s"] = limit_seconds(params, bytes_per, gflops, gbs, row["prompt_tokens"],
                                       batch_rows(len(requests), b), args.new_tokens)
        row["limit_tokens_per_s"] = row["generated_tokens"] / row["limit_s"]
        row["share_of_limit"] = row["limit_s"] / row["wall_s"]
        rows.append(row)
    emb = embedder_row((texts * (args.embed_texts // max(1, len(texts)) + 1))[: args.embed_texts], 64)

    print(f"machine: {args.threads} torch thread(s); float32 matmul {gflops:.1f} GFLOP/s; "
          f"copy bandwidth {gbs:.1f} GB/s (read + write)")
    print(f"model: {chat.model_id}, {params / 1e6:.1f}M parameters, {bytes_per} bytes each "
          f"({params * bytes_per / 1e6:.0f} MB read per decode step)")
    print(f"{args.prompts} prompts, {args.new_tokens} generated tokens each (EOS and JSON stops off)\n")
    print("| batch | prompt tokens | generated tok/s | CPU s / wall s | limit tok/s | share of limit |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['batch_size']} | {r['prompt_tokens']} | {r['tokens_per_s']:.1f} | "
              f"{r['cpu_s'] / r['wall_s']:.2f} | {r['limit_tokens_per_s']:.0f} | {r['share_of_limit']:.0%} |")
    print(f"\nembedder {emb['embedder']}: {emb['texts_per_s']:.0f} texts/s "
          f"({emb['texts']} texts, batch {emb['batch_size']})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"gflops": gflops, "copy_gbs": gbs, "params": params, "bytes_per_param": bytes_per,
                       "generation": rows, "embedder": emb}, f, indent=1)
    return rows, emb


if __name__ == "__main__":
    main()

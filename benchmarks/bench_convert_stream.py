"""Streaming benchmark of the dataset converter on a synthetic Amazon-2018-style dump.

Generates a gzip review file (default 2,000,000 lines, one JSON object per line with review text)
and a gzip metadata file in a temporary folder, converts them with
``python -m recbole_hnlm.data.convert amazon2018`` in a child process, and prints lines per second
and the child's peak RSS next to the RSS of a process that only imports the converter (the
package's own import cost). Nothing is written outside the temporary folder.

    python benchmarks/bench_convert_stream.py [--lines 2000000] [--users 400000] [--items 80000]
"""
import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("great quality works fine battery cable color size price fast shipping cheap sturdy easy "
         "install broke after month recommend love perfect small large return refund product "
         "seller described expected would buy again daughter son gift toy game fun hours").split()


def _texts(rng, n, lo, hi):
    return [" ".join(rng.choice(WORDS, size=rng.integers(lo, hi))) for _ in range(n)]


def generate(folder, n_lines, n_users, n_items, seed=0):
    """Write ``reviews.json.gz`` (``n_lines`` lines) and ``meta.json.gz``; returns their paths."""
    rng = np.random.default_rng(seed)
    reviews, meta = os.path.join(folder, "reviews.json.gz"), os.path.join(folder, "meta.json.gz")
    texts, summaries = _texts(rng, 4096, 20, 120), _texts(rng, 512, 2, 8)
    chunk = 100_000
    with gzip.open(reviews, "wt", encoding="utf-8", compresslevel=1) as f:
        for start in range(0, n_lines, chunk):
            n = min(chunk, n_lines - start)
            users = (rng.zipf(1.3, n) * 7919 + rng.integers(0, n_users, n)) % n_users
            items = (rng.zipf(1.2, n) * 104729 + rng.integers(0, n_items, n)) % n_items
            ratings = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], n, p=[0.05, 0.05, 0.1, 0.25, 0.55])
            times = rng.integers(1_104_537_600, 1_538_352_000, n)
            text_idx, sum_idx = rng.integers(0, len(texts), n), rng.integers(0, len(summaries), n)
            f.writelines(
                json.dumps({
                    "overall": float(r), "verified": True, "reviewTime": "01 01, 2016",
                    "reviewerID": f"A{u:012d}", "asin": f"B{i:09d}", "reviewerName": "Someone",
                    "reviewText": texts[t], "summary": summaries[s], "unixReviewTime": int(ts),
                }) + "\n"
                for u, i, r, ts, t, s in zip(users.tolist(), items.tolist(), ratings.tolist(), times.tolist(),
                                             text_idx.tolist(), sum_idx.tolist())
            )
    with gzip.open(meta, "wt", encoding="utf-8", compresslevel=1) as f:
        for i in range(n_items):
            f.write(json.dumps({
                "asin": f"B{i:09d}", "title": f"Product {i} {texts[i % len(texts)][:60]}",
                "category": ["Toys & Games", f"Sub {i % 50}"], "brand": f"Brand{i % 997}",
                "description": [texts[(i * 7) % len(texts)]], "price": f"${(i % 9000) / 100 + 1:.2f}",
            }) + "\n")
    return reviews, meta


def _child_peak_rss_mb(cmd, env):
    """Run ``cmd``; return (wall seconds, CPU seconds, peak RSS in MiB, stdout).

    ``RUSAGE_CHILDREN`` reports the largest waited-for child so far, so the measurements run from
    the smallest (import only) to the largest (conversion).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return seconds, cpu, after.ru_maxrss / 1024, proc.stdout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--users", type=int, default=400_000)
    parser.add_argument("--items", type=int, default=80_000)
    parser.add_argument("--keep", help="keep the generated files in this folder instead of a temporary one")
    args = parser.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory(prefix="bench_convert_") as tmp:
        folder = args.keep or os.path.join(tmp, "raw")
        os.makedirs(folder, exist_ok=True)
        t0 = time.perf_counter()
        reviews, meta = generate(folder, args.lines, args.users, args.items)
        gen_s = time.perf_counter() - t0
        size_mb = os.path.getsize(reviews) / 2**20
        print(f"generated {args.lines:,} lines ({size_mb:.0f} MiB gzip) in {gen_s:.0f} s", flush=True)
        # baseline: the interpreter with the converter imported (the package imports torch)
        base_s, base_cpu, base_rss, _ = _child_peak_rss_mb(
            [sys.executable, "-c", "import recbole_hnlm.data.convert"], env)
        out = os.path.join(tmp, "out", "bench")
        cmd = [sys.executable, "-m", "recbole_hnlm.data.convert", "amazon2018", "--input", reviews,
               "--meta", meta, "--output", out, "--no-progress", "--quiet"]
        seconds, cpu, rss, _ = _child_peak_rss_mb(cmd, env)
        stats = json.load(open(os.path.join(out, "bench.stats.json")))
        review_mb = os.path.getsize(os.path.join(out, "bench.reviews.jsonl")) / 2**20
    rows = [
        ("input lines", f"{args.lines:,}"),
        ("input gzip size", f"{size_mb:.0f} MiB"),
        ("users / items / interactions", f"{stats['users']:,} / {stats['items']:,} / {stats['interactions']:,}"),
        ("reviews sidecar written", f"{review_mb:.0f} MiB"),
        ("conversion wall time (CPU time)", f"{seconds:.1f} s ({cpu:.1f} s)"),
        ("  of which interpreter start + imports", f"{base_s:.1f} s ({base_cpu:.1f} s)"),
        ("lines / s, wall", f"{args.lines / seconds:,.0f}"),
        ("lines / s, CPU time, without imports", f"{args.lines / max(cpu - base_cpu, 1e-9):,.0f}"),
        ("peak RSS, conversion", f"{rss:.0f} MiB"),
        ("peak RSS, import only", f"{base_rss:.0f} MiB"),
        ("peak RSS above import", f"{rss - base_rss:.0f} MiB"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"| {'measure':<{width}} | value |\n|{'-' * (width + 2)}|-------|")
    for k, v in rows:
        print(f"| {k:<{width}} | {v} |")


if __name__ == "__main__":
    main()

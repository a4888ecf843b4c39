"""CPU time of a training step with candidate scores gathered per pair against the users x items product.

    python benchmarks/probes/score_table_ab.py ml-100k LightGCN_DNS LightGCN_MixGCF LightGCN_AHNS LightGCN_HNLM \
        [--batches 30] [--ratio 20] [--data_path atomic_data]

For each model, the same batches are trained twice over, each step once with ``SCORE_TABLE_RATIO`` 0 (always the
gather) and once with ``--ratio`` (the product where it is at most that many times the B x M candidates), the
order alternating, so that the machine's other load falls on both alike. One torch thread.
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from batch_cost import training_steps  # noqa: E402

from recbole_hnlm.sampler import candidates  # noqa: E402


def interleaved(dataset, name, batches, ratio, data_path):
    step, taken = training_steps(dataset, name, {}, batches, data_path)
    for batch in taken[:3]:
        step(batch)
    spent = {0: 0.0, ratio: 0.0}
    for order in ((0, ratio), (ratio, 0)):
        for batch in taken[3:]:
            for r in order:
                candidates.SCORE_TABLE_RATIO = r
                start = time.process_time()
                step(batch)
                spent[r] += time.process_time() - start
    steps = 2 * len(taken[3:])
    return spent[0] / steps, spent[ratio] / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--ratio", type=float, default=candidates.SCORE_TABLE_RATIO)
    parser.add_argument("--data_path", default="atomic_data")
    args = parser.parse_args(argv)
    if args.ratio <= 0:
        parser.error("--ratio must be above 0 (0 is the gather it is compared with)")
    torch.set_num_threads(1)
    print(f"| model | gather, CPU ms / step | product up to {args.ratio:g}x, CPU ms / step | ratio |\n|---|---|---|---|")
    for name in args.models:
        gather, table = interleaved(args.dataset, name, args.batches, args.ratio, args.data_path)
        print(f"| {name} | {gather * 1000:.1f} | {table * 1000:.1f} | {table / gather:.2f} |", flush=True)


if __name__ == "__main__":
    main()

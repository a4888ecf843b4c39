"""How far SCFT's labels can be told apart at all: the teacher's own in-batch retrieval accuracy.

The teacher's user vector e_u is the query and the CF vector of the pair's label (its hard negative)
the answer, in batches of ``--batch`` held-out pairs with distinct labels, exactly as SCFT evaluates
(``teacher_accuracy``, the same held-out split and batch seed). This is the ceiling of what the CF soft
tokens can teach the LLM. For each ``teacher.npz`` (``<data_path>/<ds>/scft/<run>/teacher.npz``) it
prints the accuracy with the run's own labels; with ``--dns-m`` it also relabels the last teacher's
held-out pairs by the DNS rule (the top-scoring of M uniform candidates that are not the user's
training items) for each M::

    python benchmarks/scft/teacher_ceiling.py atomic_data/ml-100k/scft/smollm2-cpu-v2-mixgcf-labels/teacher.npz \\
        atomic_data/ml-100k/scft/smollm2-cpu-v2/teacher.npz --dns-m 64 256 1024
"""
import argparse
import sys

import numpy as np
import torch

from recbole_hnlm.llm.scft.data import distinct_label_batches, split_pairs
from recbole_hnlm.llm.scft.teacher import TeacherData
from recbole_hnlm.llm.scft.train import teacher_accuracy


def normalise(x):
    return torch.nn.functional.normalize(torch.as_tensor(x).float(), dim=-1)


def accuracy(teacher, labels, rows, batch, seed):
    """(batches, mean teacher accuracy) over distinct-label batches of the held-out ``rows``."""
    rows = np.asarray(rows)
    users, items = normalise(teacher.user_emb), normalise(teacher.item_emb)
    batches = distinct_label_batches(labels[rows], batch, seed + 10_000, drop_last=True)
    if not batches:
        raise SystemExit(f"no batch of {batch} held-out pairs with distinct labels; lower --batch")
    scores = [teacher_accuracy(users, items, teacher.pair_users[rows[b]], labels[rows[b]]) for b in batches]
    return len(batches), float(np.mean(scores))


def dns_labels(teacher, rows, m, generator):
    """``teacher.pair_negs`` with the ``rows`` relabelled: the top-scoring of ``m`` uniform non-positive candidates."""
    users, items = torch.from_numpy(teacher.user_emb), torch.from_numpy(teacher.item_emb)
    positives = set(zip(teacher.pair_users.tolist(), teacher.pair_items.tolist()))
    labels = teacher.pair_negs.copy()
    for r in rows:
        u = int(teacher.pair_users[r])
        draws = torch.randint(1, len(teacher.item_tokens), (m,), generator=generator).tolist()
        cand = torch.tensor([c for c in draws if (u, c) not in positives], dtype=torch.long)
        if len(cand):  # else every draw was a training item: the run's own label stays
            labels[r] = int(cand[(users[u] * items[cand]).sum(-1).argmax()])
    return labels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("teachers", nargs="+", help="teacher.npz files of SCFT runs")
    parser.add_argument("--max-pairs", type=int, default=1024, help="SCFT's scft_max_pairs of the runs")
    parser.add_argument("--eval-pairs", type=int, default=4096, help="held-out pairs (at most half of them)")
    parser.add_argument("--seed", type=int, default=2020, help="SCFT's scft_seed of the runs")
    parser.add_argument("--batch", type=int, default=8, help="pairs per batch (chance = 1 / batch)")
    parser.add_argument("--dns-m", type=int, nargs="*", default=[], help="relabel the last teacher by DNS with M")
    args = parser.parse_args(argv)
    for path in args.teachers:
        teacher = TeacherData.load(path)
        _, held_out = split_pairs(teacher, args.max_pairs, args.eval_pairs, args.seed)
        n, acc = accuracy(teacher, teacher.pair_negs, held_out, args.batch, args.seed)
        print(f"{path}: labels {teacher.info.get('labels')}, {n} batches of {args.batch} held-out pairs: "
              f"teacher acc {acc:.3f} (chance {1 / args.batch:.3f})")
    generator = torch.Generator().manual_seed(0)
    for m in args.dns_m:
        labels = dns_labels(teacher, held_out, m, generator)
        n, acc = accuracy(teacher, labels, held_out, args.batch, args.seed)
        print(f"dns, m = {m}: {len(np.unique(labels[held_out]))} distinct labels, {n} batches: teacher acc {acc:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How far SCFT's labels can be told apart at all: the teacher's own in-batch retrieval accuracy.

e_u (the teacher's user vector) as the query, the label's CF vector as the label, batches of 8 held-out
pairs with distinct labels, exactly as SCFT evaluates (``teacher_accuracy``). First the labels of two
runs (MixGCF's own vs the DNS stand-in, m = 64), then the DNS rule with more candidates per pair.

    PYTHONPATH=. python results/scft_ml100k/v2/teacher_ceiling.py
"""
import numpy as np
import torch

from recbole_hnlm.llm.scft.data import distinct_label_batches, split_pairs
from recbole_hnlm.llm.scft.teacher import TeacherData
from recbole_hnlm.llm.scft.train import teacher_accuracy


def normalise(x):
    return torch.nn.functional.normalize(torch.as_tensor(x).float(), dim=-1)


def accuracy(teacher, negs, rows):
    rows = np.asarray(rows)
    users, items = normalise(teacher.user_emb), normalise(teacher.item_emb)
    batches = distinct_label_batches(negs[rows], 8, 2020 + 10_000, drop_last=True)
    return len(batches), float(np.mean([teacher_accuracy(users, items, teacher.pair_users[rows[b]], negs[rows[b]])
                                        for b in batches]))


for run in ("smollm2-cpu-v2-mixgcf-labels", "smollm2-cpu-v2"):
    t = TeacherData.load(f"atomic_data/ml-100k/scft/{run}/teacher.npz")
    _, held_out = split_pairs(t, 1024, 4096, 2020)
    n, acc = accuracy(t, t.pair_negs, held_out)
    print(f"{run}: labels {t.info['labels']}, {n} batches of 8 held-out pairs: teacher acc {acc:.3f} (chance 0.125)")

t = TeacherData.load("atomic_data/ml-100k/scft/smollm2-cpu-v2/teacher.npz")
users, items = torch.from_numpy(t.user_emb), torch.from_numpy(t.item_emb)
positives = set(zip(t.pair_users.tolist(), t.pair_items.tolist()))
gen = torch.Generator().manual_seed(0)
_, held_out = split_pairs(t, 1024, 4096, 2020)
for m in (64, 256, 1024):
    negs = t.pair_negs.copy()
    for r in held_out:
        u = int(t.pair_users[r])
        cand = [c for c in torch.randint(1, len(t.item_tokens), (m,), generator=gen).tolist() if (u, c) not in positives]
        cand = torch.tensor(cand)
        negs[r] = int(cand[(users[u] * items[cand]).sum(-1).argmax()])
    n, acc = accuracy(t, negs, held_out)
    print(f"dns, m = {m}: {len(np.unique(negs[held_out]))} distinct labels, {n} batches: teacher acc {acc:.3f}")

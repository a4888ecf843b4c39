"""Report the hard negative a trained model's sampler chooses for each training pair.

Reference:
    Chu Zhao, Enneng Yang, Yuting Liu, Jianzhe Zhao, Guibing Guo, Xingwei Wang. "Can LLM-Driven Hard Negative
    Sampling Empower Collaborative Filtering? Findings and Potentials." arXiv:2504.04726, 2025.

Reference code:
    https://github.com/user683/HNLMRec

``export_hard_negatives(model, train_data)`` runs the model's ``neg_sampler`` (DNS, MixGCF, AHNS,
RNS...) over every training interaction once, with the model in eval mode and one propagation,
and returns the original tokens ``(user, item, negative item)``. For MixGCF the negative item is the
candidate chosen at the last layer (see :mod:`recbole_hnlm.sampler.mixgcf`). The supervised
fine-tuning stage uses a pre-trained MixGCF model's negatives as its labels.

From the command line, on a checkpoint saved by ``run_recbole_hnlm.py`` (``--saved=True``)::

    python -m recbole_hnlm.sampler.export saved/LightGCN_MixGCF-<date>.pth out/hard_negatives.tsv
"""
import argparse
import dataclasses
import os
import sys

import numpy as np
import torch

from recbole_hnlm.checkpoint import CheckpointError, rebuild
from recbole_hnlm.sampler.base import TrainPositives

TSV_HEADER = ("user_id:token", "item_id:token", "neg_item_id:token")


@torch.no_grad()
def export_hard_negatives(model, train_data, batch_size=4096):
    """(user tokens, item tokens, hard-negative item tokens), one row per training interaction.

    ``model`` is a plugin model with a ``neg_sampler`` (any ``HardNegativeMixin`` model);
    ``train_data`` its training dataloader or training dataset. Candidates are drawn from the
    global torch RNG (seed it for a reproducible export); the model's train/eval mode is restored.
    """
    dataset = getattr(train_data, "dataset", train_data)
    uid, iid = dataset.uid_field, dataset.iid_field
    users_all = torch.as_tensor(dataset.inter_feat[uid]).long().to(model.device)
    items_all = torch.as_tensor(dataset.inter_feat[iid]).long().to(model.device)
    positives = TrainPositives(dataset).to(model.device)
    was_training = model.training
    model.eval()
    try:
        ctx = None
        negatives = []
        for start in range(0, len(users_all), batch_size):
            user = users_all[start:start + batch_size]
            pos = items_all[start:start + batch_size]
            neg = positives.sample(user, 1)[:, 0]
            if ctx is None:  # propagate once, reuse for every batch
                ctx = model.negative_context(user, pos, neg)
            else:
                ctx = dataclasses.replace(ctx, user=user, pos_item=pos, neg_item=neg)
            _, chosen = model.neg_sampler(ctx)
            negatives.append(chosen.reshape(-1).cpu())
    finally:
        model.train(was_training)
    neg_all = torch.cat(negatives).numpy() if negatives else np.zeros(0, dtype=np.int64)
    return (
        dataset.id2token(uid, users_all.cpu().numpy()),
        dataset.id2token(iid, items_all.cpu().numpy()),
        dataset.id2token(iid, neg_all),
    )


def write_hard_negatives(path, user_tokens, item_tokens, neg_item_tokens):
    """Write the export as a RecBole-style TSV (``user_id:token item_id:token neg_item_id:token``)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\t".join(TSV_HEADER) + "\n")
        for row in zip(user_tokens, item_tokens, neg_item_tokens):
            f.write("\t".join(str(x) for x in row) + "\n")
    os.replace(tmp, path)
    return len(user_tokens)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Export a trained model's hard negatives as a TSV.")
    parser.add_argument("checkpoint", help="a .pth file saved by run_recbole_hnlm.py")
    parser.add_argument("out", help="output TSV path")
    parser.add_argument("--seed", type=int, default=2020, help="seed of the candidate draws")
    parser.add_argument("--batch_size", type=int, default=4096)
    parser.add_argument("--trust_checkpoint", type=str, default="False",
                        help="True loads a checkpoint that holds more than RecBole's (Config, tensors) and runs "
                             "any code in it: only for files you made yourself")
    args = parser.parse_args(argv)
    try:
        _, model, train_data = rebuild(args.checkpoint, trust=args.trust_checkpoint.lower() in ("true", "1", "yes"))
    except CheckpointError as e:
        sys.exit(f"error: {e}")
    torch.manual_seed(args.seed)
    n = write_hard_negatives(args.out, *export_hard_negatives(model, train_data, args.batch_size))
    print(f"wrote {n} hard negatives ({model.neg_sampler.name}) to {args.out}")


if __name__ == "__main__":
    main()

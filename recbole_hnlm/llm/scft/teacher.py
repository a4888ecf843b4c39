"""The CF teacher of SCFT: e_u and e_v for the hybrid prompt (Eq. 11) and each pair's hard negative (Eq. 12's label).

Any checkpoint that RecBole's or the plugin's trainer saved works: LightGCN with MixGCF (the paper's
teacher, ``--model=LightGCN_MixGCF``), any ``*_HNLM`` / sampler model, or RecBole's own LightGCN, BPR...

* embeddings: ``propagate()`` of a plugin model, ``forward()`` of a RecBole graph model, else the
  user / item embedding tables (MF);
* labels (:func:`hard_negatives`): the teacher's own sampler through
  :func:`recbole_hnlm.sampler.export_hard_negatives` when it has one (MixGCF, DNS, AHNS), else the
  stand-in :func:`dns_negatives`: the sampler stage's DNS, the highest-scoring non-positive among M
  uniform candidates.

The teacher is read by :func:`recbole_hnlm.checkpoint.rebuild`, which refuses one trained on another
dataset or split (the config keys that make the split are compared); its outputs are cached in the run
folder (``teacher.npz``) so that a resumed run trains on exactly the same labels.
"""
import hashlib
import inspect
import json
import logging
import os

import numpy as np
import torch

from recbole_hnlm.checkpoint import rebuild


class TeacherError(ValueError):
    """A teacher that cannot serve this run; the message names the file."""


def load_teacher(path, config, train_dataset, device="cpu"):
    """The CF model saved in ``path``, rebuilt on ``train_dataset`` (which must be its training split)."""
    if not path:
        raise TeacherError("SCFT needs a CF teacher: --scft_teacher=<checkpoint .pth> of a model trained on this "
                           "dataset (e.g. python run_recbole_hnlm.py --model=LightGCN_MixGCF --dataset=<ds>)")
    _, model, _ = rebuild(path, config, train_dataset, device, trust=bool(config["trust_checkpoint"]))
    return model


@torch.no_grad()
def cf_embeddings(model):
    """Pooled ``(user_all, item_all)`` CF embeddings of a trained model, as float32 CPU tensors."""
    if hasattr(model, "propagate"):
        user_all, item_all = model.propagate()
    elif hasattr(model, "forward") and not [
        p for p in inspect.signature(model.forward).parameters.values() if p.default is inspect.Parameter.empty
    ]:
        user_all, item_all = model.forward()[:2]
    elif hasattr(model, "user_embedding") and hasattr(model, "item_embedding"):
        user_all, item_all = model.user_embedding.weight, model.item_embedding.weight
    else:
        raise TeacherError(f"{type(model).__name__}: cannot read user and item embeddings from this model")
    return user_all.detach().float().cpu(), item_all.detach().float().cpu()


@torch.no_grad()
def dns_negatives(user_all, item_all, train_dataset, users, m, seed, batch_size=4096):
    """The stand-in label: the sampler stage's DNS (the top-scoring non-positive of ``m`` uniform candidates)."""
    from recbole_hnlm.sampler import DNS, SamplerContext

    dns = DNS({"dns_m": int(m), "dns_n": 1, "train_neg_sample_args": {"dynamic": False}, "semantic_negatives": False,
               "guard_above_positive": False}, train_dataset)  # plain DNS: no text guard, no pool
    torch.manual_seed(int(seed))
    out = [dns(SamplerContext(user=u, pos_item=None, neg_item=None, user_all=user_all, item_all=item_all))[1]
           for u in users.split(batch_size)]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def hard_negatives(model, train_dataset, user_all, item_all, source, m, seed):
    """``(users, items, negatives, sampler name)`` as internal ids, one row per training interaction.

    ``source`` ``auto`` uses the teacher's own sampler (the sampler stage's export) when the model has
    one other than RNS, and the DNS stand-in otherwise; ``dns`` always uses the stand-in.
    """
    if source not in ("auto", "dns"):
        raise ValueError(f"scft_label_source must be auto or dns, got {source!r}")
    uid, iid = train_dataset.uid_field, train_dataset.iid_field
    users = torch.as_tensor(train_dataset.inter_feat[uid]).long()
    items = torch.as_tensor(train_dataset.inter_feat[iid]).long()
    sampler = getattr(model, "neg_sampler", None)
    if source == "auto" and sampler is not None and getattr(sampler, "name", "rns") != "rns":
        try:
            from recbole_hnlm.sampler import export_hard_negatives
        except ImportError:  # the sampler stage is not installed: fall back to the stand-in
            export_hard_negatives = None
        if export_hard_negatives is not None:
            torch.manual_seed(int(seed))
            u_tok, i_tok, n_tok = export_hard_negatives(model, train_dataset)
            neg = np.asarray([train_dataset.token2id(iid, t) for t in n_tok], dtype=np.int64)
            if len(neg) != len(users) or not np.array_equal(np.asarray(u_tok), train_dataset.id2token(uid, users.numpy())):
                raise TeacherError("the sampler export does not list the training interactions in order")
            return users.numpy(), items.numpy(), neg, sampler.name
    neg = dns_negatives(user_all, item_all, train_dataset, users, m=m, seed=seed)
    return users.numpy(), items.numpy(), neg.numpy(), f"dns(m={int(m)})"


def checkpoint_id(path):
    """A short fingerprint of a checkpoint file (size, mtime, head of its bytes)."""
    st = os.stat(path)
    h = hashlib.sha1(f"{os.path.abspath(path)}|{st.st_size}|{int(st.st_mtime)}".encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


class TeacherData:
    """Everything SCFT takes from the teacher, keyed by original tokens; saved as ``teacher.npz``."""

    FIELDS = ("user_tokens", "user_emb", "item_tokens", "item_emb", "pair_users", "pair_items", "pair_negs",
              "pair_scores")

    def __init__(self, user_tokens, user_emb, item_tokens, item_emb, pair_users, pair_items, pair_negs,
                 pair_scores, info):
        self.user_tokens, self.user_emb = np.asarray(user_tokens, dtype=str), np.asarray(user_emb, np.float32)
        self.item_tokens, self.item_emb = np.asarray(item_tokens, dtype=str), np.asarray(item_emb, np.float32)
        self.pair_users, self.pair_items = np.asarray(pair_users, np.int64), np.asarray(pair_items, np.int64)
        self.pair_negs, self.pair_scores = np.asarray(pair_negs, np.int64), np.asarray(pair_scores, np.float32)
        self.info = dict(info)

    @property
    def cf_dim(self):
        return int(self.user_emb.shape[1])

    def save(self, path):
        tmp = f"{path}.tmp.npz"
        np.savez(tmp, info=np.asarray(json.dumps(self.info, sort_keys=True)),
                 **{f: getattr(self, f) for f in self.FIELDS})
        os.replace(tmp, path)

    @classmethod
    def load(cls, path):
        with np.load(path, allow_pickle=False) as z:
            missing = [f for f in cls.FIELDS + ("info",) if f not in z.files]
            if missing:
                raise TeacherError(f"{path}: field(s) {missing} are missing; remove the file to rebuild it")
            return cls(*(z[f] for f in cls.FIELDS), info=json.loads(str(z["info"])))


def build_teacher_data(config, train_dataset, path=None, source=None, m=None, seed=None, device="cpu"):
    """Run the teacher once: embeddings of every user and item, and the label of every training pair."""
    logger = logging.getLogger()
    path = path or config["scft_teacher"]
    source = source or config["scft_label_source"]
    m = int(m or config["scft_dns_m"])
    seed = int(seed if seed is not None else config["scft_seed"])
    model = load_teacher(path, config, train_dataset, device=device)
    user_all, item_all = cf_embeddings(model)
    users, items, negs, sampler = hard_negatives(model, train_dataset, user_all, item_all, source, m, seed)
    scores = (user_all[users] * item_all[items]).sum(-1).numpy()
    uid, iid = train_dataset.uid_field, train_dataset.iid_field
    info = {"checkpoint": os.path.abspath(path), "checkpoint_id": checkpoint_id(path), "model": type(model).__name__,
            "labels": sampler, "seed": seed, "dataset": config["dataset"], "cf_dim": int(user_all.shape[1])}
    logger.info(f"SCFT teacher {info['model']} ({path}): {len(users)} training pairs, labels from {sampler}, "
                f"CF dimension {info['cf_dim']}")
    return TeacherData(train_dataset.field2id_token[uid], user_all.numpy(), train_dataset.field2id_token[iid],
                       item_all.numpy(), users, items, negs, scores, info)


def teacher_data(config, train_dataset, cache_path, device="cpu"):
    """:class:`TeacherData` from ``cache_path`` when it was built from the same checkpoint, else built and saved."""
    path = config["scft_teacher"]
    if os.path.isfile(cache_path):
        cached = TeacherData.load(cache_path)
        same = (path is None or (os.path.isfile(path) and cached.info.get("checkpoint_id") == checkpoint_id(path)))
        wanted = config["scft_label_source"]
        if same and (wanted == "auto" or cached.info.get("labels", "").startswith(wanted)):
            return cached
        logging.getLogger().info(f"{cache_path}: built from another teacher or label source; rebuilding it")
    data = build_teacher_data(config, train_dataset, device=device)
    os.makedirs(os.path.dirname(os.path.abspath(cache_path)), exist_ok=True)
    data.save(cache_path)
    return data

"""Export of a fine-tuned SCFT model: hard-negative embeddings that the ``*_HNLM`` models load unchanged.

Two feature sets (:mod:`recbole_hnlm.features` format, written resumably by ``FeatureWriter``):

* ``scft_feature`` (default ``scft-<granularity>``): the query embedding of Eq. 12 (EOS pooling) of
  the hybrid prompt (Eq. 11), k = 1, the LLM's hidden size. ``pair``: every training pair (the paper;
  the GPU path); ``user`` / ``item`` (bounded cost, the CPU default): one query per user / item, made
  from the training pair that stands for it (``scft_representative``: the teacher's highest-scoring
  pair, or the latest one). Use it with ``--hnlm_feature=<name>``.
* ``<name>-items``: every item's label-side embedding (its text + EOS through the same model and
  pooling): the item-granularity set in the same space that the anchor loss needs. Use it with
  ``--hnlm_anchor_feature=<name>-items``.

Generalisation (paper P1): a model fine-tuned on dataset A exports for dataset B with a teacher
trained on B: only the MLP's input size must match (the teachers' embedding size), which is checked.

An export that is killed resumes (the keys already written are skipped); one whose inputs changed
(another model, teacher or granularity) is rebuilt, never mixed.
"""
import json
import logging
import os
import shutil
import time

import numpy as np
import torch
from tqdm import tqdm

from recbole_hnlm.features import FeatureFileError, FeatureWriter, feature_dir
from recbole_hnlm.features import BUILTIN_FEATURES, train_fingerprint
from recbole_hnlm.llm.scft.data import (
    Collate,
    PromptBuilder,
    QuerySet,
    length_batches,
    pad_sequences,
    representative_rows,
)
from recbole_hnlm.llm.scft.model import load_scft, read_meta
from recbole_hnlm.llm.scft.settings import SCFTSettings
from recbole_hnlm.llm.scft.teacher import teacher_data
from recbole_hnlm.llm.scft.texts import profile_texts, texts_sha
from recbole_hnlm.llm.scft.train import run_dir


def open_writer(directory, granularity, dim, source):
    """A FeatureWriter for ``directory``, or None when a finished export of the same source is there."""
    logger = logging.getLogger()
    meta_path = os.path.join(directory, "meta.json")
    if os.path.isfile(meta_path):
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
        if meta.get("source") == json.loads(json.dumps(source)) and meta.get("dim") == dim:
            return None
        logger.info(f"{directory}: exported from other inputs; rebuilding it")
        shutil.rmtree(directory)
    try:
        return FeatureWriter(directory, granularity, dim, k=1, source=source)
    except FeatureFileError:
        logger.info(f"{directory}: an unfinished export of other inputs is in the way; starting over")
        shutil.rmtree(directory)
        return FeatureWriter(directory, granularity, dim, k=1, source=source)


def _normalise(x):
    return torch.nn.functional.normalize(x.float(), dim=-1)


def _write_batches(writer, name, n_todo, batches, encode, keys_of, chunk, show_progress):
    """Encode ``batches`` (lists of positions), buffer, and add to ``writer`` every ``chunk`` keys."""
    buf_keys, buf_vec, tokens, done = [], [], 0, 0
    start = time.perf_counter()
    bar = tqdm(total=n_todo, desc=f"export {name}", dynamic_ncols=True, disable=not show_progress)
    for b in batches:
        vec, n_tok = encode(b)
        tokens += n_tok
        buf_keys += keys_of(b)
        buf_vec.append(vec)
        done += len(b)
        bar.update(len(b))
        if len(buf_keys) >= chunk:
            writer.add(buf_keys, np.concatenate(buf_vec))
            buf_keys, buf_vec = [], []
    if buf_keys:
        writer.add(buf_keys, np.concatenate(buf_vec))
    bar.close()
    seconds = time.perf_counter() - start
    return {"embedded": done, "seconds": round(seconds, 2), "tokens": tokens,
            "keys_per_second": round(done / seconds, 2) if seconds else None,
            "tokens_per_second": round(tokens / seconds, 1) if seconds else None}


def export_features(config, ctx, model_dir=None, device=None):
    """Write ``scft_feature`` (and ``<it>-items``) for the training split of ``ctx``; returns a summary."""
    logger = logging.getLogger()
    s = SCFTSettings.from_config(config)
    if s.threads:
        torch.set_num_threads(s.threads)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if model_dir is None:  # scft_model, None meaning this run's own
        model_dir = s.model if s.model is not None else os.path.join(run_dir(config), "final")
    meta = read_meta(model_dir)
    g = s.granularity
    name = s.feature_name
    if name in BUILTIN_FEATURES:
        raise ValueError(f"scft_feature {name!r} is a built-in feature set that training rebuilds; choose another")
    teacher = teacher_data(config, ctx.dataset, os.path.join(run_dir(config), "teacher.npz"))
    if teacher.cf_dim != int(meta["cf_dim"]):
        raise ValueError(
            f"{model_dir}: the model's MLP takes {meta['cf_dim']}-d CF embeddings, but the teacher "
            f"{teacher.info.get('checkpoint', '(cached in teacher.npz)')} gives {teacher.cf_dim}-d ones; train the teacher with "
            f"embedding_size={meta['cf_dim']} (a fine-tuned model transfers across datasets, not CF sizes)"
        )
    ds = ctx.dataset
    time_order = None
    if s.representative == "last":
        n_items = len(teacher.item_tokens) + 1
        row_of = {int(c): r for r, c in enumerate(teacher.pair_users * n_items + teacher.pair_items)}
        time_order = [row_of[int(u) * n_items + int(i)] for u, i in zip(ctx.user_ids, ctx.item_ids)]
    keys, rows = representative_rows(teacher, g, s.representative, time_order)
    model, tok, meta = load_scft(model_dir, device)
    builder = PromptBuilder(tok, meta["instruction"], meta["soft_tokens"], meta["profile_tokens"],
                            meta["label_tokens"], meta["chat_template"])
    texts = profile_texts(config, ctx)
    show = bool(config["show_progress"])
    bs = s.export_batch_size
    chunk = s.export_chunk
    users = ds.inter_feat[ds.uid_field].numpy()
    items = ds.inter_feat[ds.iid_field].numpy()
    source = {"producer": "scft", "model": os.path.abspath(model_dir), "model_fingerprint": meta["fingerprint"],
              "trained_on": meta.get("trained_on"), "teacher": teacher.info["checkpoint_id"],
              "representative": None if g == "pair" else s.representative,
              "train_fingerprint": train_fingerprint(users, items), "texts": texts_sha(texts)}
    summary = {"model_dir": model_dir, "granularity": g, "device": str(device)}
    collate = Collate(builder.pad)

    # the hard negatives: query embeddings (Eq. 11-12)
    directory = feature_dir(config, name)
    writer = open_writer(directory, g, model.hidden_size, source)
    if writer is None:
        logger.info(f"{directory} is up to date; nothing to export")
        summary[name] = {"directory": directory, "status": "up to date", "keys": len(keys)}
    else:
        todo = [j for j, key in enumerate(keys) if key not in writer.done]
        qs = QuerySet(builder, teacher, texts, rows[todo], labels=False, cf_normalize=meta["cf_normalize"])
        batches = length_batches([qs.query_length(i) for i in range(len(qs))], bs)

        @torch.no_grad()
        def encode(b):
            batch = collate([qs[i] for i in b])
            q = model.encode(batch["input_ids"].to(device), batch["attention_mask"].to(device),
                             batch["soft_positions"].to(device), batch["cf"].to(device))
            return _normalise(q).cpu().numpy(), int(batch["attention_mask"].sum())

        def keys_of(b):
            return [list(keys[todo[i]]) if g == "pair" else keys[todo[i]] for i in b]

        stats = _write_batches(writer, name, len(todo), batches, encode, keys_of, chunk, show)
        meta_out = writer.finalize()
        summary[name] = {"directory": directory, "status": "written", "keys": meta_out["count"],
                         "resumed_with": len(keys) - len(todo), **stats}
        logger.info(f"SCFT export {name}: {meta_out['count']} {g} rows x {meta_out['dim']} in {directory} "
                    f"({stats['keys_per_second']} keys/s, {stats['tokens_per_second']} tokens/s)")

    # the anchor set: every item's label-side embedding, same model and pooling
    if s.export_items:
        items_name = f"{name}-items"
        directory = feature_dir(config, items_name)
        writer = open_writer(directory, "item", model.hidden_size, dict(source, representative=None, side="label"))
        item_tokens = list(ctx.all_items)
        if writer is None:
            summary[items_name] = {"directory": directory, "status": "up to date", "keys": len(item_tokens)}
        else:
            todo = [t for t in item_tokens if t not in writer.done]
            label_ids = [builder.label_ids(texts.label[t]) for t in todo]
            batches = length_batches([len(x) for x in label_ids], bs)

            @torch.no_grad()
            def encode_items(b):
                ids, mask = pad_sequences([label_ids[i] for i in b], builder.pad)
                return _normalise(model.encode(ids.to(device), mask.to(device))).cpu().numpy(), int(mask.sum())

            stats = _write_batches(writer, items_name, len(todo), batches, encode_items,
                                   lambda b: [todo[i] for i in b], chunk, show)
            meta_out = writer.finalize()
            summary[items_name] = {"directory": directory, "status": "written", "keys": meta_out["count"], **stats}
            logger.info(f"SCFT export {items_name}: {meta_out['count']} items in {directory} "
                        f"({stats['keys_per_second']} items/s)")
    path = os.path.join(run_dir(config), f"export-{name}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
    logger.info(f"SCFT export done: train with --hnlm_feature={name}"
                + (f" --hnlm_anchor_feature={name}-items" if s.export_items else ""))
    return summary

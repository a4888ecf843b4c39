"""Stage 4: e_llm = T(Neg) (Eq. 5) written as feature sets that the ``*_HNLM`` models load unchanged.

* ``llm_feature_name`` (default ``llm-<granularity>``): the k generated negatives of each key, each
  embedded as "title. description" (k slots per key; the model averages the first ``n_hard``,
  Eq. 5). Use it with ``--hnlm_feature=<name>``.
* ``llm_anchor_name`` (default ``llm-profile``): each item's profile (Eq. 2) embedded, item
  granularity, k = 1; use it with ``--hnlm_anchor_feature=<name>``.

A key whose negatives are missing (the answer failed) gets, with ``llm_fallback: retrieval``, the
text embeddings of its nearest unseen items, as the built-in ``retrieval`` producer does; the
rows are flagged in ``extra/fallback.npy``, counted in the summary, and their share is
``source.fallback_share`` in ``meta.json`` (a model warns when it trains on a mostly-fallback set). ``skip`` leaves such keys
out, ``error`` stops. Keys with fewer than k negatives repeat theirs (counted as ``short``).

The export resumes through :class:`~recbole_hnlm.features.FeatureWriter`; its ``source``
holds a hash of every text it embeds, so an export whose inputs changed is rebuilt, never mixed.
"""
import hashlib
import json
import os
import shutil
import time

import numpy as np
from tqdm import tqdm

from recbole_hnlm.features import FeatureFileError, FeatureWriter
from recbole_hnlm.llm.embed import get_embedder
from recbole_hnlm.llm.negatives import granularity, hard_negatives, subject
from recbole_hnlm.llm.profiles import item_profiles
from recbole_hnlm.features import BUILTIN_FEATURES, nearest_negatives, train_fingerprint
from recbole_hnlm.llm.usage import CHARS_PER_TOKEN, embed_price

FALLBACKS = ("retrieval", "skip", "error")
DRY_RUN_NEGATIVE_TOKENS = 25  # a "title. one-sentence description", for estimates before generation


def build_embedder(config):
    """The text embedder T of Eq. 5 named by ``llm_embedder`` (see :func:`recbole_hnlm.llm.embed.get_embedder`)."""
    from recbole_hnlm.llm.backends import retry_policy

    spec = config["llm_embedder"]
    options = {"batch_size": config["llm_embed_batch_size"], "pooling": config["llm_embed_pooling"]}
    if spec.startswith("openai:"):
        options.update({
            "base_url": config["llm_embed_base_url"] or config["llm_base_url"],
            "api_key_env": config["llm_api_key_env"], "dimensions": config["llm_embed_dimensions"],
            "timeout": float(config["llm_timeout"]), "retry": retry_policy(config),
        })
        options.pop("pooling")
    elif not spec.startswith("llm:"):
        options.pop("pooling")
    return get_embedder(spec, device=config["llm_device"], **options)


def embedder_name(config):
    """The embedder's name without loading it (for the dry run)."""
    spec = config["llm_embedder"]
    return "all-MiniLM-L6-v2" if spec == "minilm" else spec


def ctx_fingerprint(ctx):
    """The training split's fingerprint (see :func:`recbole_hnlm.features.train_fingerprint`)."""
    ds = ctx.dataset
    return train_fingerprint(ds.inter_feat[ctx.uid].numpy(), ds.inter_feat[ctx.iid].numpy())


def negative_text(neg):
    """The text of one generated negative that T embeds (Eq. 5)."""
    title, desc = neg.get("title", ""), neg.get("description", "")
    return f"{title}. {desc}" if desc else title


def _sha(rows):
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:20]


def _open_writer(directory, granularity_, dim, k, source, logger):
    """A FeatureWriter for ``directory``; a finished export with the same source is left as it is (None)."""
    meta_path = os.path.join(directory, "meta.json")
    if os.path.isfile(meta_path):
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
        if meta.get("source") == json.loads(json.dumps(source)) and meta.get("k") == k and meta.get("dim") == dim:
            return None
        logger.info(f"{directory}: the inputs changed since it was exported; rebuilding it")
        shutil.rmtree(directory)
    try:
        return FeatureWriter(directory, granularity_, dim, k=k, source=source)
    except FeatureFileError:
        logger.info(f"{directory}: an unfinished export of other inputs is in the way; starting over")
        shutil.rmtree(directory)
        return FeatureWriter(directory, granularity_, dim, k=k, source=source)


def _write(run, name, directory, granularity_, keys, texts, fallback_vec, source, embedder, k):
    """Embed ``texts`` (per key, k of them, or None for a fallback row) and write the feature set, resumably."""
    with run.lock(f"the export {directory}"):  # a second export waits, then finds this one up to date
        return _write_locked(run, name, directory, granularity_, keys, texts, fallback_vec, source, embedder, k)


def _write_locked(run, name, directory, granularity_, keys, texts, fallback_vec, source, embedder, k):
    logger = run.logger
    writer = _open_writer(directory, granularity_, embedder.dim, k, source, logger)
    info = {"directory": directory, "granularity": granularity_, "k": k, "keys": len(keys),
            "embedder": embedder.name}
    if writer is None:
        logger.info(f"{name}: {directory} is up to date ({len(keys)} keys), nothing to embed")
        info["status"] = "up to date"
        return info
    todo = [j for j, key in enumerate(keys) if key not in writer.done]
    chunk = int(run.config["llm_export_chunk"])
    start, tokens0 = time.perf_counter(), getattr(embedder, "tokens", 0)
    n_texts = 0
    bar = tqdm(total=len(todo), desc=f"embed {name}", disable=not run.config["show_progress"], dynamic_ncols=True)
    for s in range(0, len(todo), chunk):
        rows = todo[s:s + chunk]
        flat = [t for j in rows if texts[j] is not None for t in texts[j]]
        vec = embedder.encode(flat) if flat else np.zeros((0, embedder.dim), np.float32)
        n_texts += len(flat)
        out = np.zeros((len(rows), k, embedder.dim), dtype=np.float32)
        pos = 0
        for r, j in enumerate(rows):
            if texts[j] is None:
                out[r] = fallback_vec[j]
            else:
                out[r] = vec[pos:pos + k]
                pos += k
        key_arr = [list(keys[j]) if isinstance(keys[j], tuple) else keys[j] for j in rows]
        writer.add(key_arr, out, extra={"fallback": np.array([texts[j] is None for j in rows])})
        bar.update(len(rows))
    bar.close()
    meta = writer.finalize()
    seconds = time.perf_counter() - start
    info.update({"status": "written", "count": meta["count"], "dim": meta["dim"], "embedded_texts": n_texts,
                 "seconds": round(seconds, 2), "texts_per_second": round(n_texts / seconds, 1) if seconds else None})
    tokens = getattr(embedder, "tokens", 0) - tokens0
    if tokens:
        info["tokens"] = tokens
        price = embed_price(run.config, embedder.name)
        info["cost_usd"] = tokens * price / 1e6 if price is not None else None
    logger.info(f"{name}: wrote {meta['count']} {granularity_} rows x {k} x {meta['dim']} to {directory} "
                f"({n_texts} texts in {seconds:.1f}s)")
    return info


def _fallback_vectors(run, ctx, embedder, keys, missing, g, k):
    """For keys with no generated negatives: text embeddings of the k nearest unseen items (retrieval)."""
    ds = ctx.dataset
    item_tokens = ["[PAD]"] + ctx.all_items
    item_vec = embedder.encode([ctx.item_text(t) for t in ctx.all_items])
    item_vec = np.concatenate([np.zeros((1, item_vec.shape[1]), np.float32), item_vec])
    assert len(item_tokens) == len(item_vec)
    rows = [keys[j] for j in missing]
    if g == "item":
        items = np.array([ds.token2id(ctx.iid, t) for t in rows], dtype=np.int64)
        neg = nearest_negatives(item_vec, np.zeros_like(items), items, k)
    else:
        if g == "pair":
            users_tok, items_tok = [u for u, _ in rows], [i for _, i in rows]
        else:  # the user's last training item stands for the user
            users_tok, items_tok = rows, [ctx.history[u][-1] for u in rows]
        users = np.array([ds.token2id(ctx.uid, t) for t in users_tok], dtype=np.int64)
        items = np.array([ds.token2id(ctx.iid, t) for t in items_tok], dtype=np.int64)
        # every training pair of these users is a positive, so a fallback never picks a seen item
        involved = np.isin(ctx.user_ids, users)
        all_u = np.concatenate([users, ctx.user_ids[involved]])
        all_i = np.concatenate([items, ctx.item_ids[involved]])
        neg = nearest_negatives(item_vec, all_u, all_i, k)[: len(rows)]
    out = {}
    for j, negs in zip(missing, neg):
        out[j] = item_vec[negs]
    return out


def export_negatives(run, ctx, embedder=None):
    """Eq. 5 for every key of the negatives stage; returns the export's summary entry."""
    g = granularity(run.config)
    k = int(run.config["llm_k"])
    mode = run.config["llm_fallback"]
    if mode not in FALLBACKS:
        raise ValueError(f"llm_fallback must be one of {FALLBACKS}, got {mode!r}")
    name = run.config["llm_feature_name"] or f"llm-{g}"
    if name in BUILTIN_FEATURES:
        raise ValueError(f"llm_feature_name {name!r} is a built-in feature set that training rebuilds; choose another")
    asked, results = hard_negatives(run, ctx, generate=False)
    # every key of the granularity is exported: those outside an llm_max_* subset are handled like failed ones
    keys = ctx.negative_keys(g, limited=False)
    texts, short, missing = [], 0, []
    for j, key in enumerate(keys):
        res = results.get(subject(key))
        if not res or not res.get("hard_negatives"):
            texts.append(None)
            missing.append(j)
            continue
        negs = [negative_text(n) for n in res["hard_negatives"][:k]]
        short += int(len(negs) < k)
        texts.append([negs[s % len(negs)] for s in range(k)])
    info_extra = {"generated": len(keys) - len(missing), "missing": len(missing), "short": short,
                  "outside_subset": len(keys) - len(asked), "fallback": mode if missing else None}
    if run.dry_run:
        n_texts = len(keys) * k  # keys not generated yet count as k texts of ~DRY_RUN_NEGATIVE_TOKENS
        tokens = int(sum(len(s) for t in texts if t for s in t) / CHARS_PER_TOKEN)
        tokens += len(missing) * k * DRY_RUN_NEGATIVE_TOKENS
        price = embed_price(run.config, embedder_name(run.config))
        entry = {"keys": len(keys), "texts_to_embed": n_texts, "est_tokens": tokens,
                 "cost_usd": tokens * price / 1e6 if price else 0.0, **info_extra}
        run.logger.info(f"[dry run] export {name}: {entry}")
        run.exports[name] = entry
        return entry
    if missing and mode == "error":
        raise FeatureFileError(
            f"{len(missing)} of {len(keys)} {g} keys have no generated negatives (first: {subject(keys[missing[0]])!r}); "
            f"run the negatives stage again, or set llm_fallback=retrieval or skip"
        )
    if missing and mode == "skip":
        keep = [j for j in range(len(keys)) if texts[j] is not None]
        keys, texts, missing = [keys[j] for j in keep], [texts[j] for j in keep], []
    if not keys:
        raise FeatureFileError(f"nothing to export for {name!r}: no {g} key has negatives yet; run the negatives stage")
    if len(asked) < len(keys):
        run.logger.warning(f"{name}: {len(keys) - len(asked)} of {len(keys)} {g} keys lie outside the llm_max_* "
                           f"subset: " + ("they get the retrieval fallback" if mode == "retrieval" else
                                          "they are left out, and training on the export needs every key"))
    embedder = embedder or build_embedder(run.config)
    fallback_vec = _fallback_vectors(run, ctx, embedder, keys, missing, g, k) if missing else {}
    source = {
        "producer": "llm", "chat_model": run.model_id, "prompt": run.prompt(f"negatives_{g}").version,
        "embedder": embedder.name, "k": k, "fallback": mode, "fallback_share": round(len(missing) / len(keys), 4),
        "content_sha": _sha([[subject(key), texts[j]] for j, key in enumerate(keys)]),
        "train_fingerprint": ctx_fingerprint(ctx),
    }
    directory = os.path.join(run.out_dir, name)
    info = _write(run, name, directory, g, keys, texts, fallback_vec, source, embedder, k)
    info.update(info_extra)
    run.exports[name] = info
    return info


def export_profiles(run, ctx, embedder=None):
    """Each item's profile P_v (Eq. 2) embedded, item granularity, k = 1: the anchor text of every item.

    Items without a profile are embedded from their title and attributes (counted as ``from_item_text``).
    """
    name = run.config["llm_anchor_name"]
    if name in BUILTIN_FEATURES:
        raise ValueError(f"llm_anchor_name {name!r} is a built-in feature set that training rebuilds; choose another")
    profiles = item_profiles(run, ctx, generate=False)
    keys = list(ctx.all_items)
    texts = [[f"{ctx.title(i)}. {profiles[i]['summarization']}" if i in profiles else ctx.item_text(i)] for i in keys]
    info_extra = {"from_profile": sum(1 for i in keys if i in profiles),
                  "from_item_text": sum(1 for i in keys if i not in profiles)}
    if run.dry_run:
        tokens = int(sum(len(t[0]) for t in texts) / CHARS_PER_TOKEN)
        price = embed_price(run.config, embedder_name(run.config))
        entry = {"keys": len(keys), "texts_to_embed": len(keys), "est_tokens": tokens,
                 "cost_usd": tokens * price / 1e6 if price else 0.0, **info_extra}
        run.logger.info(f"[dry run] export {name}: {entry}")
        run.exports[name] = entry
        return entry
    embedder = embedder or build_embedder(run.config)
    source = {
        "producer": "llm-profile", "chat_model": run.model_id, "prompt": run.prompt("item_profile").version,
        "embedder": embedder.name, "content_sha": _sha([[key, texts[j]] for j, key in enumerate(keys)]),
        "train_fingerprint": ctx_fingerprint(ctx),
    }
    directory = os.path.join(run.out_dir, name)
    info = _write(run, name, directory, "item", keys, texts, {}, source, embedder, 1)
    info.update(info_extra)
    run.exports[name] = info
    return info


def export(run, ctx):
    """Stage 4: both feature sets, with one embedder."""
    embedder = None if run.dry_run else build_embedder(run.config)
    return {"negatives": export_negatives(run, ctx, embedder), "profiles": export_profiles(run, ctx, embedder)}

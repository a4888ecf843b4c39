"""LLMRec's implicit-feedback augmentation as an LLM stage (Wei et al., WSDM 2024: "LLM-based
augmentation of implicit feedback"), for the ``<Backbone>_LLMRec`` baselines.

For each user the LLM sees the user's profile (Eq. 3, else recent titles), recent training items and
``llm_augment_candidates`` numbered candidates, and answers ``{"liked": a, "disliked": b}``
(:func:`~recbole_hnlm.llm.answers.check_choice`). LLMRec takes the candidates from a trained base
recommender; here they are the unseen items nearest the user's training items in the built-in
item-text space (the same embeddings the ``profile`` stand-in of :mod:`recbole_hnlm.model.augmented`
uses), so the LLM's judgement is what differs. The answers are stored and resumable like every
stage; the export writes ``<output>/<llm_augment_name>/triples.tsv``, which a model reads with
``llmrec_augment=<llm_augment_name>``. Users whose answer failed, and users with fewer unseen items
than candidates asked for, get no triple.
"""
import os

import torch

from recbole_hnlm.features import ensure_features
from recbole_hnlm.llm.answers import check_choice
from recbole_hnlm.llm.profiles import item_profiles, user_profiles
from recbole_hnlm.llm.runner import Job
from recbole_hnlm.model.augmented import HEADER, nearest_unseen
from recbole_hnlm.model.profiles import profile_tables

STAGE = "llmrec_augment"


def candidates(ctx, users, n):
    """``{user token: [item tokens]}``: up to ``n`` unseen items nearest the user's training items (text space)."""
    ds = ctx.dataset
    ensure_features(ctx.config, ds, [ctx.config["profile_item_feature"], ctx.config["profile_user_feature"]])
    user_vec, item_vec = profile_tables(ctx.config, ds)
    rows = torch.tensor([ds.token2id(ctx.uid, u) for u in users], dtype=torch.long)
    picked = nearest_unseen(ds, user_vec, item_vec, rows, n)
    return {u: [ds.id2token(ctx.iid, i) for i in items] for u, items in zip(users, picked)}


def augment_jobs(ctx, cands, item_map, user_map, n):
    words = int(ctx.config["llm_history_profile_words"])
    jobs = []
    for user, items in cands.items():
        if len(items) < n:
            continue  # every prompt lists n candidates, so one answer check fits all
        listed = "\n".join(f"{j}. {ctx.title(i)}: {ctx.item_profile_text(i, item_map, words)}"
                           for j, i in enumerate(items, start=1))
        jobs.append(Job(user, {"user_profile": ctx.user_profile_text(user, user_map),
                               "history": ctx.history_block(user, item_map, 5, words),
                               "candidates": listed, "n": len(items)}))
    return jobs


def llmrec_augment(run, ctx):
    """Ask for every user of :meth:`DatasetContext.profile_users` and export the triples."""
    n = int(run.config["llm_augment_candidates"])
    users = ctx.profile_users()
    cands = candidates(ctx, users, n)
    item_map = item_profiles(run, ctx, generate=False)
    user_map = user_profiles(run, ctx, generate=False)
    jobs = augment_jobs(ctx, cands, item_map, user_map, n)
    results = run.run_stage(STAGE, run.prompt(STAGE), jobs, lambda value: check_choice(value, n),
                            int(run.config["llm_augment_tokens"]), generate=True)
    if run.dry_run:
        return None
    name = run.config["llm_augment_name"]
    directory = os.path.join(run.out_dir, name)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "triples.tsv")
    rows = [(user, cands[user][choice["liked"] - 1], cands[user][choice["disliked"] - 1])
            for user, choice in results.items()]
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write("\t".join(HEADER) + "\n")
        f.writelines("\t".join(r) + "\n" for r in rows)
    os.replace(path + ".tmp", path)
    info = {"path": path, "users": len(users), "asked": len(jobs), "triples": len(rows)}
    run.logger.info(f"llmrec_augment: {len(rows)} triples for {len(users)} users in {path} "
                    f"(train with --llmrec_augment={name})")
    run.exports[name] = info
    return info

"""Stage 3: semantic hard negatives, Neg = LLM(S_H, {(u, v), P_u, P_v}) (Eq. 4).

``llm_granularity`` bounds the cost: ``pair`` asks once per training (user, item) pair, as in the
paper; ``user`` once per user (P_u and a few history titles); ``item`` once per training item
(P_v). Each answer is ``{"hard_negatives": [{"title", "description"}, ...]}`` with up to
``llm_k`` entries (:func:`~recbole_hnlm.llm.answers.check_negatives`).
"""
from functools import partial

from recbole_hnlm.llm.answers import check_negatives
from recbole_hnlm.llm.profiles import item_profiles, user_profiles
from recbole_hnlm.llm.runner import Job

STAGE = "negatives"
GRANULARITIES = ("pair", "user", "item")


def granularity(config):
    g = config["llm_granularity"]
    if g not in GRANULARITIES:
        raise ValueError(f"llm_granularity must be one of {GRANULARITIES}, got {g!r}")
    return g


def subject(key):
    """The store's subject of a key: a token, or ``user<TAB>item`` for a pair."""
    return "\t".join(key) if isinstance(key, tuple) else key


def negative_jobs(ctx, g, keys, item_map, user_map, k):
    """The prompt fields of Eq. 4 for each key, from the stored profiles (titles where one is missing)."""
    words = int(ctx.config["llm_history_profile_words"]) * 2
    jobs = []
    for key in keys:
        if g == "pair":
            u, i = key
            values = {"user_profile": ctx.user_profile_text(u, user_map), "item_title": ctx.title(i),
                      "item_profile": ctx.item_profile_text(i, item_map, words)}
        elif g == "user":
            values = {"user_profile": ctx.user_profile_text(key, user_map),
                      "history": ctx.history_block(key, {}, 5)}
        else:
            values = {"item_title": ctx.title(key), "item_profile": ctx.item_profile_text(key, item_map, words)}
        values["k"] = k
        jobs.append(Job(subject(key), values))
    return jobs


def hard_negatives(run, ctx, generate=True):
    """Eq. 4 for every key of the configured granularity: ``(keys, {subject: {"hard_negatives": [...]}})``."""
    g = granularity(run.config)
    k = int(run.config["llm_k"])
    item_map = item_profiles(run, ctx, generate=False) if g in ("pair", "item") else {}
    user_map = user_profiles(run, ctx, generate=False) if g in ("pair", "user") else {}
    keys = ctx.negative_keys(g)
    prompt = run.prompt(f"negatives_{g}")
    jobs = negative_jobs(ctx, g, keys, item_map, user_map, k)
    results = run.run_stage(STAGE, prompt, jobs, partial(check_negatives, k=k),
                            int(run.config["llm_negative_tokens"]), generate=generate)
    return keys, results

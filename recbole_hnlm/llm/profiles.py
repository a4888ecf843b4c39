"""Stages 1 and 2: item profiles (Eq. 2) and user profiles (Eq. 3).

P_v = LLM(S_v, {title, attributes, reviews}) and P_u = LLM(S_u, {reviews, P_v of the training
history}); both are JSON ``{"summarization", "reasoning"}`` (:func:`~recbole_hnlm.llm.answers.check_profile`).
"""
from recbole_hnlm.llm.answers import check_profile
from recbole_hnlm.llm.runner import Job

ITEM_STAGE = "item_profiles"
USER_STAGE = "user_profiles"


def item_profile_jobs(ctx, items):
    """One job per item: its title, attributes and (training) reviews, the inputs of Eq. 2."""
    return [
        Job(item, {"title": ctx.title(item), "attributes": ctx.attributes_block(item),
                   "reviews": ctx.item_reviews_block(item)})
        for item in items
    ]


def item_profiles(run, ctx, generate=True):
    """Eq. 2: ``{item token: {"summarization", "reasoning"}}`` for the items of :meth:`DatasetContext.profile_items`.

    With ``generate=False`` only answers already stored are returned (used by the later stages).
    """
    prompt = run.prompt("item_profile")
    jobs = item_profile_jobs(ctx, ctx.profile_items())
    return run.run_stage(ITEM_STAGE, prompt, jobs, check_profile,
                         int(run.config["llm_profile_tokens"]), generate=generate)


def user_profile_jobs(ctx, users, item_profiles):
    """One job per user: the last ``llm_history_len`` training items with their P_v, and the user's reviews (Eq. 3)."""
    n = int(ctx.config["llm_history_len"])
    words = int(ctx.config["llm_history_profile_words"])
    return [
        Job(user, {"history": ctx.history_block(user, item_profiles, n, words),
                   "reviews": ctx.user_reviews_block(user)})
        for user in users
    ]


def user_profiles(run, ctx, item_profile_map=None, generate=True):
    """Eq. 3: ``{user token: {"summarization", "reasoning"}}``, built on the stored item profiles.

    Items of the history without a profile (not generated yet, failed, or outside ``llm_max_items``)
    appear with their title and attributes instead.
    """
    if item_profile_map is None:
        item_profile_map = item_profiles(run, ctx, generate=False)
    prompt = run.prompt("user_profile")
    jobs = user_profile_jobs(ctx, ctx.profile_users(), item_profile_map)
    return run.run_stage(USER_STAGE, prompt, jobs, check_profile,
                         int(run.config["llm_profile_tokens"]), generate=generate)

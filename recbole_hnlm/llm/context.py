"""What the LLM stages know about a dataset: item text, training histories, reviews, subsets.

Everything about users comes from the TRAINING split that RecBole's ``data_preparation`` makes with
the run's config (``train_data.dataset``), so no profile or negative is built from a validation or
test interaction. Reviews come from the converter's ``<ds>.reviews.jsonl`` sidecar, when there is
one, and by default only those of training pairs are used (``llm_reviews_train_only``).
"""
import json
import logging
import os
from collections import Counter

import numpy as np

from recbole_hnlm.data.atomic import AtomicFileError, atomic_path, read_atomic

TITLE_FIELDS = ("title", "movie_title", "item_title", "product_title", "name", "business_name")
MAX_ATTRIBUTE_CHARS = 300


def _clip(text, n):
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: max(0, n - 3)].rstrip() + "..."


def _words(text, n):
    words = str(text).split()
    return " ".join(words) if len(words) <= n else " ".join(words[:n]) + "..."


def read_reviews(path, id_fields=("user_id", "item_id")):
    """Reviews sidecar: one JSON object per line with ``user_id``, ``item_id``, ``text`` (and maybe ``summary``).

    Returns a list of ``(user token, item token, text)``; a malformed line is an error naming it.
    """
    out = []
    uf, itf = id_fields
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise AtomicFileError(f"{path}: line {lineno}: not valid JSON ({e})") from None
            if not isinstance(rec, dict):
                raise AtomicFileError(f"{path}: line {lineno}: expected a JSON object")
            for field in (uf, itf):
                if field not in rec:
                    raise AtomicFileError(f"{path}: line {lineno}: field '{field}' is missing")
            summary, text = rec.get("summary") or "", rec.get("text") or ""
            body = ". ".join(p.strip() for p in (summary, text) if p and p.strip())
            if body:
                out.append((str(rec[uf]), str(rec[itf]), body))
    return out


class DatasetContext:
    """Item text, training histories and reviews of one dataset, keyed by original tokens."""

    def __init__(self, config, train_dataset):
        self.config = config
        self.logger = logging.getLogger()
        ds = train_dataset
        self.uid, self.iid = ds.uid_field, ds.iid_field
        users = ds.inter_feat[self.uid].numpy()
        items = ds.inter_feat[self.iid].numpy()
        u_tok = ds.id2token(self.uid, users)
        i_tok = ds.id2token(self.iid, items)
        times = self._timestamps(ds, u_tok, i_tok)
        if times is not None:
            order = np.argsort(times, kind="stable")
            users, items, u_tok, i_tok = users[order], items[order], u_tok[order], i_tok[order]
        self.time_ordered = times is not None
        self.user_ids, self.item_ids = users, items  # internal ids, time order when known
        self.history = {}
        pairs, seen = [], set()
        for u, i in zip(u_tok, i_tok):
            self.history.setdefault(u, []).append(i)
            if (u, i) not in seen:
                seen.add((u, i))
                pairs.append((u, i))
        self.train_pairs = pairs
        self.train_pair_set = seen
        self.all_items = list(ds.field2id_token[self.iid][1:])
        self.train_items = sorted(set(i_tok), key=lambda t: ds.token2id(self.iid, t))
        self.users = sorted(self.history, key=lambda t: ds.token2id(self.uid, t))
        self.dataset = ds
        self._load_items()
        self._load_reviews()
        self.rng_seed = int(config["llm_subset_seed"])

    def _timestamps(self, ds, u_tok, i_tok):
        """Interaction times of the training rows: RecBole's field if loaded, else the ``.inter`` file's."""
        field = self.config["TIME_FIELD"]
        if field in ds.inter_feat.columns:
            return ds.inter_feat[field].numpy()
        path = atomic_path(self.config["data_path"], "inter")
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            header = [c.partition(":")[0] for c in f.readline().rstrip("\n\r").split("\t")]
        if field not in header:
            return None
        df = read_atomic(path, columns=[self.uid, self.iid, field])
        stamp = {}
        for u, i, t in zip(df[self.uid], df[self.iid], df[field]):
            try:
                stamp.setdefault((u, i), float(t))
            except ValueError:
                raise AtomicFileError(f"{path}: field '{field}' holds {t!r}, not a number") from None
        return np.array([stamp.get((u, i), np.inf) for u, i in zip(u_tok, i_tok)])

    # ----- items ---------------------------------------------------------------------------------
    def _load_items(self):
        path = atomic_path(self.config["data_path"], "item")
        self.items = {}
        if not os.path.isfile(path):
            raise AtomicFileError(f"{path}: missing; LLM profiles need item text (title, attributes)")
        df = read_atomic(path)
        if self.iid not in df.columns:
            raise AtomicFileError(f"{path}: field '{self.iid}' (the item id) is missing")
        cols = [c for c in df.columns if c != self.iid]
        wanted = self.config["hnlm_text_fields"]
        if wanted:
            missing = [c for c in wanted if c not in cols]
            if missing:
                raise AtomicFileError(f"{path}: field(s) {missing} named in hnlm_text_fields are missing")
            cols = list(wanted)
        title_col = next((c for c in TITLE_FIELDS if c in cols), cols[0] if cols else None)
        self.title_field = title_col
        for rec in df.to_dict("records"):  # not itertuples: a column may be named like a keyword ("class")
            token = rec[self.iid]
            title = _clip(rec.get(title_col, ""), MAX_ATTRIBUTE_CHARS) if title_col else ""
            attrs = [(c.replace("_", " "), _clip(rec[c], MAX_ATTRIBUTE_CHARS)) for c in cols
                     if c != title_col and str(rec[c]).strip()]
            self.items[token] = {"title": title or f"item {token}", "attributes": attrs}
        absent = [t for t in self.all_items if t not in self.items]
        if absent:
            self.logger.warning(f"{path}: {len(absent)} items of the dataset have no row (first: {absent[0]}); "
                                f"they are described by id")
            for t in absent:
                self.items[t] = {"title": f"item {t}", "attributes": []}

    def title(self, item):
        return self.items[item]["title"]

    def item_text(self, item):
        """Title and attributes on one line, e.g. "Toy Story. release year: 1995. class: Animation ..."."""
        info = self.items[item]
        return ". ".join([info["title"]] + [f"{k}: {v}" for k, v in info["attributes"]])

    def attributes_block(self, item):
        attrs = self.items[item]["attributes"]
        return "\n".join(f"- {k}: {v}" for k, v in attrs) if attrs else "- (none)"

    # ----- reviews -------------------------------------------------------------------------------
    def _load_reviews(self):
        self.reviews_by_item, self.reviews_by_user = {}, {}
        path = atomic_path(self.config["data_path"], "reviews.jsonl")
        self.reviews_path = path if os.path.isfile(path) else None
        if not self.reviews_path:
            return
        train_only = bool(self.config["llm_reviews_train_only"])
        kept = dropped = 0
        for user, item, text in read_reviews(path, (self.uid, self.iid)):
            if train_only and (user, item) not in self.train_pair_set:
                dropped += 1
                continue
            kept += 1
            self.reviews_by_item.setdefault(item, []).append((user, text))
            self.reviews_by_user.setdefault(user, []).append((item, text))
        self.logger.info(f"{path}: {kept} reviews used" + (f", {dropped} of non-training pairs left out" if dropped else ""))

    def _review_limits(self):
        return int(self.config["llm_max_reviews"]), int(self.config["llm_review_chars"])

    def item_reviews_block(self, item):
        n, chars = self._review_limits()
        reviews = self.reviews_by_item.get(item, [])[:n]
        return "\n".join(f"- {_clip(t, chars)}" for _, t in reviews) if reviews else "- (no reviews)"

    def user_reviews_block(self, user):
        n, chars = self._review_limits()
        reviews = self.reviews_by_user.get(user, [])[-n:] if n else []
        if not reviews:
            return "- (no reviews)"
        return "\n".join(f"- on \"{self.title(i)}\": {_clip(t, chars)}" for i, t in reviews)

    # ----- profiles as prompt text ----------------------------------------------------------------
    def item_profile_text(self, item, item_profiles, words=None):
        p = item_profiles.get(item)
        text = p["summarization"] if p else self.item_text(item)
        return _words(text, words) if words else text

    def user_profile_text(self, user, user_profiles):
        p = user_profiles.get(user)
        if p:
            return p["summarization"]
        recent = self.history.get(user, [])[-5:]
        return "Recently chose: " + "; ".join(self.title(i) for i in recent)

    def history_block(self, user, item_profiles, n, profile_words=30):
        recent = self.history.get(user, [])[-n:] if n else []
        lines = []
        for i in recent:
            p = item_profiles.get(i)
            detail = _words(p["summarization"], profile_words) if p else "; ".join(
                f"{k}: {v}" for k, v in self.items[i]["attributes"])
            lines.append(f"- {self.title(i)}" + (f": {detail}" if detail else ""))
        return "\n".join(lines) if lines else "- (none)"

    # ----- which subjects a run covers -----------------------------------------------------------
    def _subset(self, tokens, limit, salt, counts=None):
        """``limit`` of ``tokens``: a seeded random draw, or with ``llm_subset: popular`` and ``counts``
        the ``limit`` with the most training interactions (covering the most training pairs per call)."""
        if not limit or int(limit) >= len(tokens):
            return list(tokens)
        mode = self.config["llm_subset"]  # random or popular: checked where the yaml declares it
        if mode == "popular" and counts is not None:
            order = sorted(range(len(tokens)), key=lambda j: -counts.get(tokens[j], 0))  # stable: ties by id
            pick = np.sort(order[: int(limit)])
        else:
            rng = np.random.RandomState(self.rng_seed + salt)
            pick = np.sort(rng.choice(len(tokens), size=int(limit), replace=False))
        return [tokens[j] for j in pick]

    def profile_items(self):
        """Items to profile (Eq. 2): every item of the dataset, or ``llm_max_items`` of them."""
        counts = Counter(i for _, i in self.train_pairs)
        return self._subset(self.all_items, self.config["llm_max_items"], 0, counts)

    def profile_users(self):
        """Users to profile (Eq. 3): every user with training history, or ``llm_max_users`` of them."""
        counts = {u: len(h) for u, h in self.history.items()}
        return self._subset(self.users, self.config["llm_max_users"], 1, counts)

    def negative_keys(self, granularity, limited=True):
        """Keys of Eq. 4: training pairs, users or training items; ``limited``: within the llm_max_* limits."""
        if granularity == "pair":
            pairs = self.train_pairs
            if limited and self.config["llm_max_users"]:
                chosen = set(self.profile_users())
                pairs = [p for p in pairs if p[0] in chosen]
            return self._subset(pairs, self.config["llm_max_pairs"], 2) if limited else list(pairs)
        if granularity == "user":
            return self.profile_users() if limited else list(self.users)
        if granularity == "item":
            items = self.train_items
            if limited and self.config["llm_max_items"]:
                chosen = set(self.profile_items())
                items = [i for i in items if i in chosen]
            return list(items)
        raise ValueError(f"llm_granularity must be pair, user or item, got {granularity!r}")

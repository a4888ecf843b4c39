"""Training pairs of SCFT on a text encoder: what each query must retrieve, and how well the teacher itself can.

Two label rules (``scft_encoder_label``), both from the CF teacher (:class:`~recbole_hnlm.llm.scft.teacher.TeacherData`):

* ``pair`` (HNLMRec Eq. 12): query = the text of the training pair (user profile and item), label = the
  text of the teacher's hard negative of that pair.
* ``item``: query = an item's text, label = the text of the item nearest to it in the teacher's CF
  space (cosine) that co-occurs with it in no user's training history. Fine-tuned on these, text
  retrieval (the built-in ``retrieval`` sets) returns CF-hard neighbours that are not co-purchases.

Each rule comes with its teacher ceiling: the in-batch retrieval accuracy of the teacher's own vectors
(:func:`~recbole_hnlm.llm.scft.train.teacher_accuracy`), e_u for a pair query, e_i for an item query.
"""
from dataclasses import dataclass

import numpy as np

from recbole_hnlm.llm.scft.data import _normalise, split_pairs

LABEL_RULES = ("pair", "item")


@dataclass
class EncoderPairs:
    """Rows of (query text, label text) with the teacher ids behind them (for the ceiling)."""

    anchors: list          # query texts
    positives: list        # label texts
    query_ids: np.ndarray  # teacher user ids (pair rule) or item ids (item rule) of the queries
    label_ids: np.ndarray  # teacher item ids of the labels

    def take(self, rows):
        rows = np.asarray(rows, dtype=np.int64)
        return EncoderPairs([self.anchors[r] for r in rows], [self.positives[r] for r in rows],
                            self.query_ids[rows], self.label_ids[rows])

    def __len__(self):
        return len(self.anchors)


def cf_hard_neighbours(item_emb, pair_users, pair_items, candidates, block=1024):
    """For every item with training interactions, the nearest item in CF space (cosine) that no user has
    together with it in training; -1 where none of its ``candidates`` nearest qualifies.

    Returns an array of ``len(item_emb)`` item ids. Item 0 (RecBole's padding) is never chosen.
    """
    n = len(item_emb)
    vec = _normalise(item_emb)
    users = np.asarray(pair_users, dtype=np.int64)
    items = np.asarray(pair_items, dtype=np.int64)
    n_users = int(users.max()) + 1 if len(users) else 1
    # item x item co-occurrence through the user-item incidence matrix (sparse)
    from scipy.sparse import csr_matrix

    incidence = csr_matrix((np.ones(len(users), dtype=np.float32), (items, users)), shape=(n, n_users))
    incidence.data[:] = 1.0
    co = (incidence @ incidence.T).tocsr()
    seen = np.zeros(n, dtype=bool)
    seen[items] = True
    out = np.full(n, -1, dtype=np.int64)
    k = min(int(candidates), n - 1)
    active = np.nonzero(seen)[0]
    for start in range(0, len(active), block):
        rows = active[start:start + block]
        sims = vec[rows] @ vec.T
        sims[np.arange(len(rows)), rows] = -np.inf
        sims[:, 0] = -np.inf
        nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(sims, nearest, axis=1).argsort(axis=1)[:, ::-1]
        nearest = np.take_along_axis(nearest, order, axis=1)
        for r, item in enumerate(rows):
            together = co.indices[co.indptr[item]:co.indptr[item + 1]]
            ok = nearest[r][~np.isin(nearest[r], together)]
            ok = ok[np.isfinite(sims[r, ok])]
            if len(ok):
                out[item] = ok[0]
    return out


def pair_rule(teacher, texts):
    """Every training pair (u, v): the pair's text -> the text of its hard negative (Eq. 12)."""
    u_tok, i_tok = teacher.user_tokens, teacher.item_tokens
    anchors = [f"User: {texts.user.get(u_tok[u], f'user {u_tok[u]}')}\nItem: {texts.item[i_tok[v]]}"
               for u, v in zip(teacher.pair_users, teacher.pair_items)]
    positives = [texts.label[i_tok[n]] for n in teacher.pair_negs]
    return EncoderPairs(anchors, positives, teacher.pair_users.copy(), teacher.pair_negs.copy())


def item_rule(teacher, texts, candidates):
    """Every trained item i with a CF-hard neighbour j (:func:`cf_hard_neighbours`): text of i -> text of j."""
    neighbour = cf_hard_neighbours(teacher.item_emb, teacher.pair_users, teacher.pair_items, candidates)
    items = np.nonzero(neighbour > 0)[0]
    i_tok = teacher.item_tokens
    return EncoderPairs([texts.item[i_tok[i]] for i in items], [texts.label[i_tok[j]] for j in neighbour[items]],
                        items.astype(np.int64), neighbour[items])


def encoder_pairs(teacher, texts, rule, max_pairs, eval_pairs, seed, candidates):
    """``(train, held out)`` :class:`EncoderPairs` of ``rule``; the held-out rows are never trained on.

    ``max_pairs``, ``eval_pairs``, ``seed``, ``candidates``: ``scft_max_pairs``, ``scft_eval_pairs``, ``scft_seed``,
    ``scft_encoder_candidates`` (the pair rule holds out what the LLM path holds out: :func:`split_pairs`).
    """
    if rule == "pair":
        pairs = pair_rule(teacher, texts)
        train_rows, eval_rows = split_pairs(teacher, max_pairs, eval_pairs, seed)
        return pairs.take(train_rows), pairs.take(eval_rows)
    if rule == "item":
        pairs = item_rule(teacher, texts, candidates)
        rows = np.random.RandomState(int(seed)).permutation(len(pairs))
        n_eval = min(int(eval_pairs or 0), len(rows) // 2)
        train_rows = rows[n_eval:][: int(max_pairs)] if max_pairs else rows[n_eval:]
        return pairs.take(np.sort(train_rows)), pairs.take(np.sort(rows[:n_eval]))
    raise ValueError(f"scft_encoder_label must be one of {LABEL_RULES}, got {rule!r}")


def query_vectors(teacher, rule):
    """The teacher's own vectors of the queries of ``rule``: e_u (pair) or e_i (item)."""
    return teacher.user_emb if rule == "pair" else teacher.item_emb

"""Hybrid prompts (Eq. 11), labels (Eq. 12), and the batches that feed them.

Query of pair (u, v), Q = Prompt(I, e_u, P_u, e_v, P_v), rendered with the tokenizer's chat template
(instruction I as the system message) when it has one::

    [system] I
    [user]   User profile: P_u
             User collaborative embedding: <s_u>
             Item profile: P_v
             Item collaborative embedding: <s_v>
    <EOS>

``<s_u>`` and ``<s_v>`` are ``scft_soft_tokens`` placeholder positions each, whose input embeddings
the model replaces by MLP(e_u) and MLP(e_v): the CF vectors enter as soft tokens, never as numbers
in text. A label is the hard-negative item's text followed by EOS. Both sequences end with the EOS
token whose last-layer state is the embedding (:func:`recbole_hnlm.llm.scft.model.pool_eos`).

The fixed parts of the prompt are tokenized once and profiles once per user / item, so a query is a
concatenation of token lists; profiles are cut to ``scft_profile_tokens`` so the soft tokens and the
EOS are never truncated away.
"""
import numpy as np
import torch

PROMPT_VERSION = 1
_MARKERS = ("<<SCFT_USER_PROFILE>>", "<<SCFT_USER_CF>>", "<<SCFT_ITEM_PROFILE>>", "<<SCFT_ITEM_CF>>")
BODY = (
    "User profile:{0}\nUser collaborative embedding: {1}\n"
    "Item profile:{2}\nItem collaborative embedding: {3}"
)


class PromptBuilder:
    """Token ids of queries and labels for one tokenizer and prompt configuration."""

    def __init__(self, tokenizer, instruction, soft_tokens=1, profile_tokens=48, label_tokens=48, chat_template=True):
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no EOS token; SCFT embeds the state at an appended EOS (Eq. 12)")
        self.tok = tokenizer
        self.eos = int(tokenizer.eos_token_id)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.unk_token_id
        self.placeholder = int(pad if pad is not None else self.eos)  # its embedding is replaced anyway
        self.pad = self.placeholder
        self.soft_tokens = max(1, int(soft_tokens))
        self.profile_tokens = int(profile_tokens)
        self.label_tokens = int(label_tokens)
        text = self.render(instruction, BODY.format(*_MARKERS), chat_template)
        segments = []
        for marker in _MARKERS:
            head, sep, text = text.partition(marker)
            if not sep:
                raise ValueError(f"the chat template dropped the placeholder {marker!r}; set scft_chat_template=False")
            segments.append(head)
        segments.append(text)
        self.segments = [self._ids(s) for s in segments]

    def render(self, instruction, body, chat_template):
        tok = self.tok
        if chat_template and getattr(tok, "chat_template", None):
            for messages in ([{"role": "system", "content": instruction}, {"role": "user", "content": body}],
                             [{"role": "user", "content": f"{instruction}\n\n{body}"}]):
                try:
                    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=False).rstrip()
                except Exception:  # noqa: BLE001 -- a template without a system role: fold it into the user turn
                    continue
        return f"Instruction: {instruction}\n{body}"

    def _ids(self, text):
        return list(self.tok(text, add_special_tokens=False)["input_ids"]) if text else []

    def profile_ids(self, text):
        """A profile as token ids, cut to ``profile_tokens`` (with the separating space)."""
        return self._ids(" " + " ".join(str(text).split()))[: self.profile_tokens]

    def label_ids(self, text):
        """A label: the item text cut to ``label_tokens``, then EOS."""
        return self._ids(" ".join(str(text).split()))[: self.label_tokens] + [self.eos]

    def query(self, user_ids, item_ids):
        """``(ids, soft positions)``: the hybrid prompt of Eq. 11 with 2 x ``soft_tokens`` placeholders."""
        s0, s1, s2, s3, s4 = self.segments
        n = self.soft_tokens
        ids = s0 + list(user_ids) + s1
        pos = list(range(len(ids), len(ids) + n))
        ids += [self.placeholder] * n + s2 + list(item_ids) + s3
        pos += list(range(len(ids), len(ids) + n))
        ids += [self.placeholder] * n + s4
        if ids[-1] != self.eos:
            ids.append(self.eos)
        return ids, pos


def pad_sequences(seqs, value):
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), value, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.as_tensor(s, dtype=torch.long)
        mask[r, : len(s)] = 1
    return ids, mask  # right padding: the EOS state never sees a pad under causal attention


class QuerySet(torch.utils.data.Dataset):
    """Queries of some teacher pairs (rows of :class:`TeacherData`), with their labels when ``labels``."""

    def __init__(self, builder, teacher, texts, rows, labels=True, cf_normalize=True):
        self.builder, self.teacher, self.rows = builder, teacher, np.asarray(rows, dtype=np.int64)
        self.labels = labels
        user_tok, item_tok = teacher.user_tokens, teacher.item_tokens
        users = np.unique(teacher.pair_users[self.rows])
        self.user_ids = {int(u): builder.profile_ids(texts.user.get(user_tok[u], f"user {user_tok[u]}")) for u in users}
        self.item_ids = {int(i): builder.profile_ids(texts.item[item_tok[i]]) for i in teacher.pair_items[self.rows]}
        self.label_cache = {}
        if labels:
            self.label_cache = {int(i): builder.label_ids(texts.label[item_tok[i]]) for i in teacher.pair_negs[self.rows]}
        self.user_emb = torch.from_numpy(_normalise(teacher.user_emb) if cf_normalize else teacher.user_emb)
        self.item_emb = torch.from_numpy(_normalise(teacher.item_emb) if cf_normalize else teacher.item_emb)

    def __len__(self):
        return len(self.rows)

    def query_length(self, i):
        r = self.rows[i]
        t = self.teacher
        return len(self.user_ids[int(t.pair_users[r])]) + len(self.item_ids[int(t.pair_items[r])])

    def label_items(self):
        return self.teacher.pair_negs[self.rows]

    def __getitem__(self, i):
        r = int(self.rows[i])
        t = self.teacher
        u, v = int(t.pair_users[r]), int(t.pair_items[r])
        ids, pos = self.builder.query(self.user_ids[u], self.item_ids[v])
        out = {"row": r, "ids": ids, "soft": pos, "cf_u": self.user_emb[u], "cf_v": self.item_emb[v]}
        if self.labels:
            neg = int(t.pair_negs[r])
            out.update(label=self.label_cache[neg], label_item=neg)
        return out


def _normalise(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class Collate:
    """Pads a list of :class:`QuerySet` items into model inputs (picklable, for DataLoader workers)."""

    def __init__(self, pad_id):
        self.pad_id = pad_id

    def __call__(self, items):
        ids, mask = pad_sequences([x["ids"] for x in items], self.pad_id)
        batch = {
            "rows": torch.as_tensor([x["row"] for x in items], dtype=torch.long),
            "input_ids": ids, "attention_mask": mask,
            "soft_positions": torch.as_tensor([x["soft"] for x in items], dtype=torch.long),
            "cf": torch.stack([torch.stack([x["cf_u"], x["cf_v"]]) for x in items]),  # B x 2 x d
        }
        if "label" in items[0]:
            batch["label_ids"], batch["label_mask"] = pad_sequences([x["label"] for x in items], self.pad_id)
            batch["label_items"] = torch.as_tensor([x["label_item"] for x in items], dtype=torch.long)
        return batch


def split_pairs(teacher, max_pairs=None, eval_pairs=0, seed=2020):
    """``(train rows, eval rows)``: distinct (u, v) training pairs, a seeded subset, the eval ones held out."""
    codes = teacher.pair_users * (len(teacher.item_tokens) + 1) + teacher.pair_items
    _, first = np.unique(codes, return_index=True)
    rows = np.sort(first)
    rng = np.random.RandomState(int(seed))
    rows = rows[rng.permutation(len(rows))]
    n_eval = min(int(eval_pairs or 0), len(rows) // 2)
    eval_rows, train_rows = rows[:n_eval], rows[n_eval:]
    if max_pairs:
        train_rows = train_rows[: int(max_pairs)]
    return np.sort(train_rows), np.sort(eval_rows)


def distinct_label_batches(labels, batch_size, seed, drop_last=True):
    """Shuffled batches (lists of positions) in which no label item repeats.

    Two pairs with the same hard-negative item would be each other's false in-batch negative in
    Eq. 12; a pair whose label is already in the batch waits for the next one. Positions that find
    no place (a label held by more pairs than there are batches) are left out of this epoch.
    """
    labels = np.asarray(labels)
    order = np.random.RandomState(int(seed)).permutation(len(labels))
    batches, waiting = [], []
    current, seen = [], set()
    for pos in order:
        if labels[pos] in seen:
            waiting.append(pos)
            continue
        current.append(int(pos))
        seen.add(labels[pos])
        if len(current) == batch_size:
            batches.append(current)
            current, seen, still = [], set(), []
            for w in waiting:  # the waiting ones go first into the next batch
                if labels[w] in seen or len(current) == batch_size:
                    still.append(w)
                else:
                    current.append(int(w))
                    seen.add(labels[w])
            waiting = still
            if len(current) == batch_size:
                batches.append(current)
                current, seen = [], set()
    if current and not drop_last:
        batches.append(current)
    return batches


def length_batches(lengths, batch_size):
    """Batches of positions sorted by length (little padding), for export."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[s:s + batch_size].tolist() for s in range(0, len(order), batch_size)]


def representative_rows(teacher, granularity, rule="score", time_order=None):
    """``(keys, rows)``: the training pair that stands for each user or item (or every pair) in an export.

    ``rule`` ``score``: the key's pair with the highest teacher score u . v (the most typical one);
    ``last``: the latest one (``time_order``: teacher rows in time order). Keys are original tokens.
    """
    codes = teacher.pair_users * (len(teacher.item_tokens) + 1) + teacher.pair_items
    _, first = np.unique(codes, return_index=True)
    rows = np.sort(first)
    u_tok, i_tok = teacher.user_tokens, teacher.item_tokens
    if granularity == "pair":
        return [(u_tok[teacher.pair_users[r]], i_tok[teacher.pair_items[r]]) for r in rows], rows
    if granularity not in ("user", "item"):
        raise ValueError(f"scft_granularity must be pair, user or item, got {granularity!r}")
    key_of = teacher.pair_users if granularity == "user" else teacher.pair_items
    if rule == "score":
        order = rows[np.lexsort((-teacher.pair_scores[rows], key_of[rows]))]
    elif rule == "last":
        order = np.asarray(time_order if time_order is not None else rows)[::-1]
        order = order[np.argsort(key_of[order], kind="stable")]
    else:
        raise ValueError(f"scft_representative must be score or last, got {rule!r}")
    keys_sorted = key_of[order]
    take = np.concatenate([[True], keys_sorted[1:] != keys_sorted[:-1]]) if len(order) else np.zeros(0, bool)
    chosen = order[take]
    names = u_tok if granularity == "user" else i_tok
    return [names[key_of[r]] for r in chosen], chosen

"""The HNLM objective (HNLM Eq. 6-10) and pluggable negative samplers, for any pairwise RecBole backbone.

Reference:
    Chu Zhao, Enneng Yang, Yuting Liu, Jianzhe Zhao, Guibing Guo, Xingwei Wang. "Can LLM-Driven Hard Negative
    Sampling Empower Collaborative Filtering? Findings and Potentials." arXiv:2504.04726, 2025.

Reference code:
    https://github.com/user683/HNLMRec

A ``<Backbone>_HNLM`` model is ``class X(HardNegativeMixin, <RecBole backbone>)`` and implements
three small hooks that say how that backbone embeds, scores and regularises:

* ``cf_dim``: size of the pooled CF embedding;
* ``propagate()``: pooled (user_all, item_all), exactly the backbone's ``forward``;
* ``propagate_layers()``: per-layer embeddings and the backbone's pooling (for MixGCF-like samplers);
* ``pair_losses(user, pos, neg_item, u_e, pos_e, neg_e, neg_sampled_e)``: the backbone's BPR and
  regularisation terms as a tuple, computed on the (possibly mixed) negative ``neg_e``.

Where the equations are: HNLM Eq. 5-6 in ``hard_embedding``, HNLM Eq. 7 and Eq. 9 in ``semantic_terms``;
HNLM Eq. 8 (BPR with the mixed negative) is the backbone's ``pair_losses`` called on the mixed
negative in ``loss_and_negatives``; HNLM Eq. 10 (L = L_BPR + lambda1 L_align + lambda2 ||Theta||^2) is the
tuple ``calculate_loss`` returns, which RecBole's trainer sums: BPR, the backbone's L2 term (where it
has one), its extra terms (SGL's contrastive loss), the alignment, and the anchor loss (a guard, not
in the paper).

Config switches (defaults in ``recbole_hnlm/properties/hnlm.yaml``, and ``hnlm_model.yaml`` for the
``_HNLM`` models):

``mix_alpha`` (alpha, HNLM Eq. 7), ``align_weight`` (lambda1, HNLM Eq. 10), ``align_tau`` (tau, HNLM Eq. 9),
``n_hard`` (negatives averaged, HNLM Eq. 5), ``projector_hidden`` (HNLM Eq. 6), and the three guards against
the collapse of the literal equations (README.md#the-trap-in-eq-6-9-and-the-guards), and one against
the alignment terms drowning BPR:

* ``hard_norm``: ``match`` rescales e_hard to the sampled negative's norm; ``none`` is the paper's form;
* ``projector_grad``: ``anchor`` trains the projector only through the anchor loss (e_hard is a
  constant for BPR and HNLM Eq. 9, so it cannot be pushed away from every user); ``all`` is the paper's form;
* ``anchor_weight``: weight of an InfoNCE that aligns proj(text of the positive item) with its CF
  embedding (RLMRec-style), which gives the projector a meaning; 0 is the paper's form.
  ``anchor_distinct`` takes each of the batch's positive items once (by default every pair counts,
  so an item that is the positive of several pairs is also its own in-batch negative);
  ``anchor_max_items`` bounds its rows (a random subset, torch RNG) so its logits stay small;
* ``align_norm_floor``: HNLM Eq. 9 and the anchor divide each vector by max(norm, floor) instead of its
  norm. A cosine's gradient on an embedding grows as 1 / norm, so with RecBole's short initial
  embeddings and a small learning rate the two alignment terms outweigh BPR and it never learns
  (results/lr-probe.md); 0 is the paper's cosine.

``guard_above_positive`` (the samplers' false-negative guard, ``sampler/candidates.py``) also applies to the
semantic negative: a pair whose e_hard the model scores above its positive is not mixed (HNLM Eq. 7).

The projector (HNLM Eq. 6) runs once per batch over the distinct rows it needs (distinct negative items,
distinct positive items) and the pairs gather from them.

``hnlm_literal: True`` selects the paper's form of all four at once.
With ``mix_alpha = 0``, ``align_weight = 0``, ``anchor_weight = 0`` and ``neg_sampler: rns`` the model is its
backbone, number for number (``tests/test_models.py::test_switched_off_hnlm_equals_its_backbone``).
"""
import torch

from recbole_hnlm.codes import first_occurrence
from recbole_hnlm.features import open_table
from recbole_hnlm.model.layers import (
    Projector,
    info_nce,
    info_nce_in_batch,
    match_norm,
    mix_negative,
    seeded_cpu_rng,
)
from recbole_hnlm.sampler import SamplerContext, build_sampler
from recbole_hnlm.sampler.semantic import uses_semantic_candidates


def split_layers(layers, n_users, n_items):
    """Per-layer node embeddings -> (per-layer user embeddings, per-layer item embeddings)."""
    parts = [torch.split(x, [n_users, n_items]) for x in layers]
    return [u for u, _ in parts], [i for _, i in parts]


class HardNegativeMixin:
    needs_semantic_features = True
    shared_properties = ("hnlm.yaml",)  # loaded before the model's own yaml
    cf_dim = None

    @staticmethod
    def uses_features(config):
        """Whether a config needs the hard-negative feature set and the projector (HNLM Eq. 5-6) at all."""
        mixing = config["mix_alpha"] and config["semantic_negatives"]
        return bool(mixing or config["align_weight"] or config["anchor_weight"])

    @classmethod
    def feature_names(cls, config):
        """The feature sets this config trains on (ensured by ``prepare()`` before the model is built)."""
        names = []
        if cls.uses_features(config):
            names.append(config["hnlm_feature"])
        anchor = cls.uses_features(config) and config["anchor_weight"] and not config["hnlm_literal"]
        if anchor or uses_semantic_candidates(config):
            names.append(config["hnlm_anchor_feature"])
        return names

    def init_hard_negatives(self, config, dataset):
        """Call at the end of the subclass ``__init__``, after the backbone is built."""
        # the settings are checked against properties/hnlm.yaml when the Config is built
        self.mix_alpha = config["mix_alpha"] if config["semantic_negatives"] else 0.0
        self.mix_alpha_warmup = config["mix_alpha_warmup"]
        self.epoch = 0
        self.align_weight = config["align_weight"]
        self.align_tau = config["align_tau"]
        literal = config["hnlm_literal"]
        self.align_norm_floor = 0.0 if literal else config["align_norm_floor"]
        self.hard_norm = "none" if literal else config["hard_norm"]
        self.projector_grad = "all" if literal else config["projector_grad"]
        self.anchor_weight = 0.0 if literal else config["anchor_weight"]
        self.anchor_distinct = config["anchor_distinct"]
        self.anchor_max_items = config["anchor_max_items"]
        self.anchor_cf_grad = config["anchor_cf_grad"]
        self.guard_above_positive = config["guard_above_positive"]
        self.neg_sampler = build_sampler(config, dataset).to(self.device)
        self.semantic = self.anchor_text = self.projector = None
        if self.uses_features(config):
            center = bool(config["hnlm_center_features"])
            self.semantic = open_table(
                config, config["hnlm_feature"], dataset, n_hard=config["n_hard"],
                granularity=config["hnlm_granularity"], center=center,
            ).to(self.device)
            if self.anchor_weight:
                self.anchor_text = open_table(
                    config, config["hnlm_anchor_feature"], dataset, granularity="item", dim=self.semantic.dim,
                    center=center,
                ).to(self.device)
            with seeded_cpu_rng(config["train_seed"]):
                self.projector = Projector(self.semantic.dim, int(config["projector_hidden"]), self.cf_dim)
            self.projector.to(self.device)

    def set_epoch(self, epoch):
        """Called by the trainer before each training epoch (the alpha curriculum, ``mix_alpha_warmup``)."""
        self.epoch = epoch

    def current_alpha(self):
        """alpha of HNLM Eq. 7 this epoch: rising linearly from 0 over ``mix_alpha_warmup`` epochs, then ``mix_alpha``."""
        if not self.mix_alpha_warmup:
            return self.mix_alpha
        return self.mix_alpha * min(1.0, self.epoch / self.mix_alpha_warmup)

    # ----- hooks a backbone may override -------------------------------------------------------
    def propagate(self):
        return self.forward()

    def propagate_layers(self):
        raise NotImplementedError(f"{type(self).__name__} does not expose per-layer embeddings")

    # ----- the loss ----------------------------------------------------------------------------
    def negative_context(self, user, pos_item, neg_item):
        """Propagate once and build the sampler's view of the batch."""
        if self.neg_sampler.needs_layers:
            user_layers, item_layers, pool = self.propagate_layers()
            user_all, item_all = pool(user_layers), pool(item_layers)
        else:
            (user_all, item_all), user_layers, item_layers, pool = self.propagate(), None, None, None
        return SamplerContext(user, pos_item, neg_item, user_all, item_all, user_layers, item_layers, pool)

    def hard_embedding(self, user, pos_item):
        """e_hard = proj(e_llm) for each pair (HNLM Eq. 5-6)."""
        return self.project(self.semantic, user, pos_item)

    def project(self, table, user, item):
        """proj(row of ``table``) for each pair: the projector runs once per distinct row of the batch."""
        vectors, inverse = table.rows(user, item)
        return self.projector(vectors)[inverse]

    def anchor_rows(self, pos_item):
        """Rows of the batch the anchor InfoNCE runs over: every pair, or each positive item once
        (``anchor_distinct``), at most ``anchor_max_items`` of them drawn at random."""
        rows = first_occurrence(pos_item) if self.anchor_distinct else torch.arange(len(pos_item), device=pos_item.device)
        if self.anchor_max_items and len(rows) > self.anchor_max_items:
            pick = torch.randperm(len(rows), device=rows.device)[: self.anchor_max_items]
            rows = rows[pick.sort().values]
        return rows

    def semantic_terms(self, user, pos_item, u_e, pos_e, neg_e):
        """The mixed negative (HNLM Eq. 7) and the alignment and anchor losses (HNLM Eq. 9 and the guard)."""
        zero = u_e.new_zeros(())
        if self.projector is None:
            return neg_e, zero, zero
        e_hard = self.hard_embedding(user, pos_item)
        if self.projector_grad == "anchor":
            e_hard = e_hard.detach()
        if self.hard_norm == "match":
            e_hard = match_norm(e_hard, neg_e)
        alpha = self.current_alpha()
        mixed = mix_negative(neg_e, self.guarded_hard(u_e, pos_e, neg_e, e_hard), alpha) if alpha else neg_e
        floor = self.align_norm_floor
        align = zero
        if self.align_weight:
            align = self.align_weight * info_nce(u_e, torch.stack([pos_e, e_hard], dim=1), self.align_tau, floor)
        anchor = zero
        if self.anchor_weight:
            rows = self.anchor_rows(pos_item)
            user, pos_item, pos_e = user[rows], pos_item[rows], pos_e[rows]
            text_pos = self.project(self.anchor_text, user, pos_item)
            target = pos_e if self.anchor_cf_grad else pos_e.detach()  # False: it trains the projector only
            anchor = self.anchor_weight * info_nce_in_batch(text_pos, target, self.align_tau, floor)
        return mixed, align, anchor

    def guarded_hard(self, u_e, pos_e, neg_e, e_hard):
        """e_hard, except where ``guard_above_positive`` rules it out as a likely false negative: where the
        model scores it above the positive, the pair's sampled negative stands in (no semantic mixing)."""
        if not self.guard_above_positive:
            return e_hard
        above = (u_e * e_hard).sum(-1, keepdim=True) > (u_e * pos_e).sum(-1, keepdim=True)
        return torch.where(above, neg_e, e_hard)

    def loss_and_negatives(self, interaction):
        """(loss parts, the item each pair's negative came from): one training step's work."""
        if getattr(self, "restore_user_e", None) is not None or getattr(self, "restore_item_e", None) is not None:
            self.restore_user_e, self.restore_item_e = None, None
        user = interaction[self.USER_ID]
        pos_item = interaction[self.ITEM_ID]
        neg_item = interaction[self.NEG_ITEM_ID]
        ctx = self.negative_context(user, pos_item, neg_item)
        neg_e, chosen = self.neg_sampler(ctx)
        u_e, pos_e = ctx.user_all[user], ctx.item_all[pos_item]
        mixed, align, anchor = self.semantic_terms(user, pos_item, u_e, pos_e, neg_e)
        losses = self.pair_losses(user, pos_item, chosen, u_e, pos_e, mixed, neg_e) + self.extra_losses(
            interaction, ctx, chosen
        ) + (align, anchor)
        return losses, chosen

    def calculate_loss(self, interaction):
        return self.loss_and_negatives(interaction)[0]

    def extra_losses(self, interaction, ctx, chosen):
        """Backbone-specific extra terms (SGL's contrastive loss); none by default.

        ``ctx`` is the batch's :class:`~recbole_hnlm.sampler.SamplerContext` (propagated embeddings),
        ``chosen`` the item each pair's negative came from.
        """
        return ()

"""LLM-enhanced CF baselines on profile embeddings, as mixins for any plugin backbone.

Reference:
    Xubin Ren et al. "Representation Learning with Large Language Models for Recommendation." in WWW 2024.
    Yunjia Xi et al. "Towards Open-World Recommendation with Knowledge Augmentation from Large Language
    Models." in RecSys 2024.
    Wei Wei et al. "LLMRec: Large Language Models with Graph Augmentation for Recommendation." in WSDM 2024.

Reference code:
    https://github.com/HKUDS/RLMRec
    https://github.com/YunjiaXi/Open-World-Knowledge-Augmented-Recommendation
    https://github.com/HKUDS/LLMRec

* :class:`RLMRecConMixin`: RLMRec-Con (Ren et al., WWW 2024, contrastive alignment): an MLP maps
  each profile embedding s into the CF space and an InfoNCE (cosine / tau) aligns it with the CF
  embedding e of the same user / positive item / negative item:
  L = L_rec + w * [InfoNCE(e_u, MLP(s_u)) + InfoNCE(e_i+, MLP(s_i+)) + InfoNCE(e_i-, MLP(s_i-))],
  the users' negatives being every other user's profile, the items' the other items of the batch
  (as the official code does; a user appears several times in a batch, so in-batch user negatives
  would often be the user itself).
* :class:`RLMRecGenMixin`: RLMRec-Gen (generative alignment by masked reconstruction): a random
  ``rlmrec_mask_ratio`` of all user and item nodes have their input embedding replaced by a learnable
  mask token before propagation (the recommendation loss uses this masked propagation, as the
  official code does); an MLP maps the propagated CF embeddings of the masked nodes into the profile
  space, where an InfoNCE (cosine / tau, the other masked nodes as negatives) reconstructs their
  profiles. Graph backbones only (with MF a masked node has nothing to reconstruct from).
* :class:`KARMixin`: KAR (Xi et al., RecSys 2024): a hybrid-expert adaptor turns the user's reasoning
  knowledge (user profile) and the item's factual knowledge (item profile) into augmented vectors,
  k_hat = sum_e g_e(k) E_e(k) over shared experts (used by both kinds) and kind-specific experts,
  with softmax gates g per kind; the augmented vector is added to the ID embedding that the
  backbone takes as input (the backbone's "additional input feature" for ID-only CF models).
* :class:`LLMRecMixin`: LLMRec (Wei et al., WSDM 2024), graph backbones: (i) augmented training
  triples (u, i+, i-) (:mod:`recbole_hnlm.model.augmented`), of which a share of each batch's users
  adds a BPR term whose largest losses are pruned (noisy-feedback pruning); (ii) side features:
  the user and item profiles, each mapped into the CF space by a linear layer, propagated over the
  training graph (user profiles reach items and back, item profiles reach users and back) and added
  L2-normalised to the backbone's final embeddings; a BPR term on the side features alone; and
  (iii) masked feature reconstruction: a share of the profile inputs is replaced by their mean and a
  decoder restores them from the propagated side features (scaled cosine error).

The profile MLPs and experts reuse :class:`recbole_hnlm.model.layers.Projector`; the InfoNCE is
:func:`recbole_hnlm.model.layers.info_nce_in_batch` (in batch) or ``info_nce_table`` (against every user).
Profiles come from :mod:`recbole_hnlm.model.profiles`. Defaults (official code: HKUDS/RLMRec ``lightgcn_plus`` /
``lightgcn_gene``; YunjiaXi/Open-World-Knowledge-Augmented-Recommendation) are in
``properties/llm_enhanced.yaml``.
"""
import torch
import torch.nn.functional as F
from torch import nn

from recbole_hnlm.model.augmented import augmented_triples
from recbole_hnlm.model.layers import Projector, info_nce_in_batch, info_nce_table, seeded_cpu_rng
from recbole_hnlm.model.profiles import profile_tables


class AugmentedEmbedding(nn.Module):
    """Stands in for a backbone's ``nn.Embedding``: its ``weight`` is the ID table, plus an optional
    computed term (KAR's augmented vectors), with optionally some rows replaced by a mask token
    (RLMRec-Gen). Every backbone reads its input embeddings through ``.weight`` or ``(index)``, so
    wrapping the two tables changes the input of MF, LightGCN, NGCF and SGL alike.
    """

    def __init__(self, base):
        super().__init__()
        self.base = base
        self.num_embeddings, self.embedding_dim = base.num_embeddings, base.embedding_dim
        self.extra = None          # callable: index tensor or None (all rows) -> rows x d
        self.mask_rows = None      # long tensor of rows to replace by ``mask_token``
        self.mask_token = None

    @property
    def weight(self):
        w = self.base.weight
        if self.extra is not None:
            w = w + self.extra(None)
        if self.mask_rows is not None and len(self.mask_rows):
            w = w.index_put((self.mask_rows,), self.mask_token.expand(len(self.mask_rows), -1))
        return w

    def forward(self, index):
        if self.mask_rows is not None:
            return self.weight[index]
        out = self.base(index)
        return out if self.extra is None else out + self.extra(index)


def _wrap_embeddings(model):
    for name in ("user_embedding", "item_embedding"):
        emb = getattr(model, name)
        if not isinstance(emb, AugmentedEmbedding):
            setattr(model, name, AugmentedEmbedding(emb))
    return model.user_embedding, model.item_embedding


class ProfileMixin:
    """Loads the profile tables as buffers; the subclasses' ``__init__`` build their parts with a
    forked RNG so that the backbone's random stream is the same as without them."""

    shared_properties = ("hnlm.yaml", "llm_enhanced.yaml")

    @classmethod
    def feature_names(cls, config):
        return [config["profile_item_feature"], config["profile_user_feature"]]

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        user_profile, item_profile = profile_tables(config, dataset)
        self.register_buffer("user_profile", user_profile.to(self.device))
        self.register_buffer("item_profile", item_profile.to(self.device))
        self.profile_dim = item_profile.shape[1]
        self.ego_dim = self.user_embedding.embedding_dim
        with seeded_cpu_rng(config["train_seed"]):  # the LLM parts do not shift the backbone's random stream
            self.build_llm_parts(config, dataset)

    def build_llm_parts(self, config, dataset):
        raise NotImplementedError


class RLMRecConMixin(ProfileMixin):
    def build_llm_parts(self, config, dataset):
        self.kd_weight = float(config["rlmrec_kd_weight"])
        self.kd_tau = float(config["rlmrec_kd_tau"])
        self.profile_mlp = Projector(self.profile_dim, (self.profile_dim + self.cf_dim) // 2, self.cf_dim).to(self.device)

    def contrastive_alignment(self, ctx, neg_item):
        """InfoNCE(e, MLP(s)) for the batch's users (against all users) and positive / negative items (in batch)."""
        users = info_nce_table(ctx.user_all[ctx.user], self.profile_mlp(self.user_profile), ctx.user, self.kd_tau)
        items = [
            info_nce_in_batch(ctx.item_all[i], self.profile_mlp(self.item_profile[i]), self.kd_tau)
            for i in (ctx.pos_item, neg_item)
        ]
        return users + sum(items)

    def extra_losses(self, interaction, ctx, chosen):
        kd = self.kd_weight * self.contrastive_alignment(ctx, chosen)
        return super().extra_losses(interaction, ctx, chosen) + (kd,)


class RLMRecGenMixin(ProfileMixin):
    def build_llm_parts(self, config, dataset):
        self.mask_ratio = float(config["rlmrec_mask_ratio"])
        self.recon_weight = float(config["rlmrec_recon_weight"])
        self.recon_tau = float(config["rlmrec_recon_tau"])
        self.mask_token = nn.Parameter(torch.zeros(1, self.ego_dim, device=self.device))
        self.recon_mlp = Projector(self.cf_dim, (self.profile_dim + self.cf_dim) // 2, self.profile_dim).to(self.device)
        _wrap_embeddings(self)

    def negative_context(self, user, pos_item, neg_item):
        if not self.training:  # e.g. export_hard_negatives: no masking outside training
            return super().negative_context(user, pos_item, neg_item)
        n_nodes = self.n_users + self.n_items
        seeds = torch.randperm(n_nodes, device=self.device)[: max(1, int(round(self.mask_ratio * n_nodes)))]
        u_emb, i_emb = self.user_embedding, self.item_embedding
        u_emb.mask_rows, i_emb.mask_rows = seeds[seeds < self.n_users], seeds[seeds >= self.n_users] - self.n_users
        u_emb.mask_token = i_emb.mask_token = self.mask_token
        try:
            ctx = super().negative_context(user, pos_item, neg_item)
        finally:
            u_emb.mask_rows = i_emb.mask_rows = None
        ctx.masked_nodes = seeds
        return ctx

    def masked_reconstruction(self, ctx, seeds):
        """InfoNCE between MLP(propagated CF embedding) and the profile of each masked node."""
        cf = torch.cat([ctx.user_all, ctx.item_all])[seeds]
        profiles = torch.cat([self.user_profile, self.item_profile])[seeds]
        return info_nce_in_batch(self.recon_mlp(cf), profiles, self.recon_tau)

    def extra_losses(self, interaction, ctx, chosen):
        recon = self.recon_weight * self.masked_reconstruction(ctx, ctx.masked_nodes)
        return super().extra_losses(interaction, ctx, chosen) + (recon,)


class HybridExpertAdaptor(nn.Module):
    """KAR's hybrid-expert adaptor: shared experts for all knowledge kinds, specific ones per kind.

    ``forward(kind, k)`` = sum_e softmax(W_kind k)_e E_e(k) over the shared experts and ``kind``'s own.
    Each expert is an MLP (``Projector``) in_dim -> hidden -> out_dim.
    """

    def __init__(self, kinds, in_dim, out_dim, n_shared=2, n_specific=5, hidden=128):
        super().__init__()
        self.shared = nn.ModuleList(Projector(in_dim, hidden, out_dim) for _ in range(n_shared))
        self.specific = nn.ModuleDict({
            k: nn.ModuleList(Projector(in_dim, hidden, out_dim) for _ in range(n_specific)) for k in kinds
        })
        self.gates = nn.ModuleDict({k: nn.Linear(in_dim, n_shared + n_specific) for k in kinds})

    def gate(self, kind, k):
        return torch.softmax(self.gates[kind](k), dim=-1)

    def forward(self, kind, k):
        experts = torch.stack([e(k) for e in [*self.shared, *self.specific[kind]]], dim=1)  # n x E x out
        return (self.gate(kind, k).unsqueeze(-1) * experts).sum(dim=1)


class KARMixin(ProfileMixin):
    def build_llm_parts(self, config, dataset):
        self.kar_adaptor = HybridExpertAdaptor(
            ("reasoning", "factual"), self.profile_dim, self.ego_dim,
            n_shared=int(config["kar_shared_experts"]), n_specific=int(config["kar_specific_experts"]),
            hidden=int(config["kar_expert_hidden"]),
        ).to(self.device)
        user_emb, item_emb = _wrap_embeddings(self)
        user_emb.extra = self.user_knowledge
        item_emb.extra = self.item_knowledge

    def user_knowledge(self, index=None):
        """Augmented reasoning vectors (from user profiles) of ``index`` (all users when None)."""
        return self._knowledge("reasoning", self.user_profile, index)

    def item_knowledge(self, index=None):
        """Augmented factual vectors (from item profiles) of ``index`` (all items when None)."""
        return self._knowledge("factual", self.item_profile, index)

    def _knowledge(self, kind, profiles, index):
        cache = getattr(self, "_kar_cache", None)
        if cache is not None:  # within one training batch: the adaptor runs once over all rows
            if kind not in cache:
                cache[kind] = self.kar_adaptor(kind, profiles)
            return cache[kind] if index is None else cache[kind][index]
        return self.kar_adaptor(kind, profiles if index is None else profiles[index])

    def negative_context(self, user, pos_item, neg_item):
        self._kar_cache = {} if self.training else None
        return super().negative_context(user, pos_item, neg_item)

    def extra_losses(self, interaction, ctx, chosen):
        try:
            return super().extra_losses(interaction, ctx, chosen)  # (SGL's views reuse the batch's cache)
        finally:
            self._kar_cache = None  # the step changes the parameters: never reuse across batches


def mean_adjacency(dataset):
    """(users x items, items x users) sparse training adjacencies with rows divided by the degree."""
    inter = dataset.inter_matrix(form="csr").astype("float32")  # CSR sums repeated pairs...
    inter.data[:] = 1.0  # ...so that each counts once here
    mats = []
    for m in (inter.tocoo(), inter.T.tocoo()):
        deg = torch.as_tensor(m.sum(axis=1)).flatten().clamp(min=1)
        rows, cols = torch.as_tensor(m.row).long(), torch.as_tensor(m.col).long()
        values = torch.ones(len(rows)) / deg[rows]
        mats.append(torch.sparse_coo_tensor(torch.stack([rows, cols]), values, m.shape, check_invariants=True).coalesce())
    return mats


def scaled_cosine_error(x, y, alpha):
    """SCE of masked autoencoders: mean over rows of (1 - cos(x, y))^alpha."""
    return (1.0 - F.cosine_similarity(x, y, dim=-1)).pow(alpha).mean()


class LLMRecMixin(ProfileMixin):
    def build_llm_parts(self, config, dataset):
        if self.neg_sampler.needs_layers:
            raise ValueError(
                f"{type(self).__name__}: neg_sampler {config['neg_sampler']!r} scores per-layer embeddings, "
                "but LLMRec adds its side features after pooling; use rns, dns or ahns"
            )
        self.profile_weight = float(config["llmrec_profile_weight"])
        self.attribute_weight = float(config["llmrec_attribute_weight"])
        self.side_bpr_weight = float(config["llmrec_side_bpr_weight"])
        self.aug_rate = float(config["llmrec_aug_sample_rate"])
        self.aug_weight = float(config["llmrec_aug_weight"])
        self.prune_rate = float(config["llmrec_prune_rate"])
        self.mask_rate = float(config["llmrec_mask_rate"])
        self.recon_weight = float(config["llmrec_recon_weight"])
        self.recon_alpha = float(config["llmrec_recon_alpha"])
        if not 0.0 <= self.prune_rate < 1.0:
            raise ValueError(f"llmrec_prune_rate must be in [0, 1), got {self.prune_rate}")
        self.side_user = nn.Linear(self.profile_dim, self.cf_dim).to(self.device)
        self.side_item = nn.Linear(self.profile_dim, self.cf_dim).to(self.device)
        for layer in (self.side_user, self.side_item):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.side_dropout = nn.Dropout(float(config["llmrec_dropout"]))
        self.decode_user = nn.Sequential(nn.Linear(self.cf_dim, self.profile_dim), nn.LeakyReLU()).to(self.device)
        self.decode_item = nn.Sequential(nn.Linear(self.cf_dim, self.profile_dim), nn.LeakyReLU()).to(self.device)
        ui, iu = mean_adjacency(dataset)
        self.adj_ui, self.adj_iu = ui.to(self.device), iu.to(self.device)
        aug = augmented_triples(config, dataset, self.user_profile.cpu(), self.item_profile.cpu())
        self.register_buffer("aug_pos", aug[0].to(self.device))
        self.register_buffer("aug_neg", aug[1].to(self.device))
        self._side = None

    def side_features(self):
        """((user <- item <- user profile, user <- item attributes), (item <- user profile, item <- user <- item
        attributes)): the linearly mapped profiles propagated over the training graph."""
        user_in, item_in = self.user_profile, self.item_profile
        masked = (None, None)
        if self.training and self.recon_weight and self.mask_rate:
            masked = tuple(torch.randperm(len(x), device=self.device)[: max(1, int(self.mask_rate * len(x)))]
                           for x in (user_in, item_in))
            user_in, item_in = (x.index_put((m,), x.mean(0).expand(len(m), -1)) for x, m in zip((user_in, item_in), masked))
        g_user = self.side_dropout(self.side_user(user_in))
        g_item = self.side_dropout(self.side_item(item_in))
        item_prof = torch.sparse.mm(self.adj_iu, g_user)
        user_prof = torch.sparse.mm(self.adj_ui, item_prof)
        user_attr = torch.sparse.mm(self.adj_ui, g_item)
        item_attr = torch.sparse.mm(self.adj_iu, user_attr)
        if self.training:
            self._side = (user_prof, user_attr, item_prof, item_attr, masked)
        return (user_prof, user_attr), (item_prof, item_attr)

    def forward(self, *args, **kwargs):
        user_all, item_all = super().forward(*args, **kwargs)
        if args and args[0] is not getattr(self, "train_graph", None):
            return user_all, item_all  # SGL's augmented views stay pure CF
        (user_prof, user_attr), (item_prof, item_attr) = self.side_features()
        user_all = user_all + self.profile_weight * F.normalize(user_prof, dim=1) \
            + self.attribute_weight * F.normalize(user_attr, dim=1)
        item_all = item_all + self.profile_weight * F.normalize(item_prof, dim=1) \
            + self.attribute_weight * F.normalize(item_attr, dim=1)
        return user_all, item_all

    def augmented_bpr(self, ctx):
        """BPR on the augmented triples of a random ``llmrec_aug_sample_rate`` of the batch's users, the
        ``llmrec_prune_rate`` largest losses dropped; summed over the batch size, as if the kept triples
        were part of the batch."""
        users = ctx.user[torch.randperm(len(ctx.user), device=self.device)[: int(round(self.aug_rate * len(ctx.user)))]]
        users = users[self.aug_pos[users] >= 0]
        if not len(users):
            return ctx.user_all.new_zeros(())
        u = ctx.user_all[users]
        margin = (u * ctx.item_all[self.aug_pos[users]]).sum(-1) - (u * ctx.item_all[self.aug_neg[users]]).sum(-1)
        losses = torch.sort(-F.logsigmoid(margin)).values
        kept = losses[: int((1.0 - self.prune_rate) * len(losses))]
        return self.aug_weight * kept.sum() / len(ctx.user)

    def extra_losses(self, interaction, ctx, chosen):
        user_prof, user_attr, item_prof, item_attr, (user_masked, item_masked) = self._side
        self._side = None
        u = user_prof[ctx.user]
        side = self.side_bpr_weight * -F.logsigmoid(
            (u * item_attr[ctx.pos_item]).sum(-1) - (u * item_attr[chosen]).sum(-1)
        ).mean()
        recon = ctx.user_all.new_zeros(())
        if user_masked is not None:
            recon = self.recon_weight * (
                scaled_cosine_error(self.decode_user(user_prof[user_masked]), self.user_profile[user_masked], self.recon_alpha)
                + scaled_cosine_error(self.decode_item(item_attr[item_masked]), self.item_profile[item_masked], self.recon_alpha)
            )
        return super().extra_losses(interaction, ctx, chosen) + (self.augmented_bpr(ctx), side, recon)

"""LLM-enhanced baselines as named RecBole models: ``<Backbone>_RLMRecCon``, ``_RLMRecGen``, ``_KAR``, ``_LLMRec``.

Reference:
    Xubin Ren et al. "Representation Learning with Large Language Models for Recommendation." in WWW 2024.
    Yunjia Xi et al. "Towards Open-World Recommendation with Knowledge Augmentation from Large Language
    Models." in RecSys 2024.
    Wei Wei et al. "LLMRec: Large Language Models with Graph Augmentation for Recommendation." in WSDM 2024.

Reference code:
    https://github.com/HKUDS/RLMRec
    https://github.com/YunjiaXi/Open-World-Knowledge-Augmented-Recommendation
    https://github.com/HKUDS/LLMRec

Each is a mixin of :mod:`recbole_hnlm.model.llm_enhanced` in front of the backbone's ``_HNLM`` class
(RNS, no semantic negatives: ``mix_alpha: 0``, ``align_weight: 0``; another ``neg_sampler`` may be
set). Defaults are in ``properties/llm_enhanced.yaml``. RLMRec-Gen and LLMRec need propagation, so
they have no MF variant.

| method | MF (RecBole BPR) | LightGCN | NGCF | SGL |
|---|---|---|---|---|
| RLMRec-Con | MF_RLMRecCon | LightGCN_RLMRecCon | NGCF_RLMRecCon | SGL_RLMRecCon |
| RLMRec-Gen | - | LightGCN_RLMRecGen | NGCF_RLMRecGen | SGL_RLMRecGen |
| KAR | MF_KAR | LightGCN_KAR | NGCF_KAR | SGL_KAR |
| LLMRec | - | LightGCN_LLMRec | NGCF_LLMRec | SGL_LLMRec |
"""
from recbole_hnlm.model.general_recommender.lightgcn_hnlm import LightGCN_HNLM
from recbole_hnlm.model.general_recommender.mf_hnlm import MF_HNLM
from recbole_hnlm.model.general_recommender.ngcf_hnlm import NGCF_HNLM
from recbole_hnlm.model.general_recommender.sgl_hnlm import SGL_HNLM
from recbole_hnlm.model.llm_enhanced import KARMixin, LLMRecMixin, RLMRecConMixin, RLMRecGenMixin


class MF_RLMRecCon(RLMRecConMixin, MF_HNLM):
    """MF (BPR) with RLMRec-Con's contrastive alignment to profile embeddings."""


class LightGCN_RLMRecCon(RLMRecConMixin, LightGCN_HNLM):
    """LightGCN with RLMRec-Con's contrastive alignment to profile embeddings."""


class NGCF_RLMRecCon(RLMRecConMixin, NGCF_HNLM):
    """NGCF with RLMRec-Con's contrastive alignment to profile embeddings."""


class SGL_RLMRecCon(RLMRecConMixin, SGL_HNLM):
    """SGL with RLMRec-Con's contrastive alignment to profile embeddings (SGL's own loss kept)."""


class LightGCN_RLMRecGen(RLMRecGenMixin, LightGCN_HNLM):
    """LightGCN with RLMRec-Gen's masked reconstruction of profile embeddings."""


class NGCF_RLMRecGen(RLMRecGenMixin, NGCF_HNLM):
    """NGCF with RLMRec-Gen's masked reconstruction of profile embeddings."""


class SGL_RLMRecGen(RLMRecGenMixin, SGL_HNLM):
    """SGL with RLMRec-Gen's masked reconstruction of profile embeddings (SGL's own loss kept)."""


class MF_KAR(KARMixin, MF_HNLM):
    """MF (BPR) whose ID embeddings are augmented by KAR's hybrid-expert adaptor."""


class LightGCN_KAR(KARMixin, LightGCN_HNLM):
    """LightGCN whose input embeddings are augmented by KAR's hybrid-expert adaptor."""


class NGCF_KAR(KARMixin, NGCF_HNLM):
    """NGCF whose input embeddings are augmented by KAR's hybrid-expert adaptor."""


class SGL_KAR(KARMixin, SGL_HNLM):
    """SGL whose input embeddings are augmented by KAR's hybrid-expert adaptor."""


class LightGCN_LLMRec(LLMRecMixin, LightGCN_HNLM):
    """LightGCN with LLMRec's augmented triples, side features and masked feature reconstruction."""


class NGCF_LLMRec(LLMRecMixin, NGCF_HNLM):
    """NGCF with LLMRec's augmented triples, side features and masked feature reconstruction."""


class SGL_LLMRec(LLMRecMixin, SGL_HNLM):
    """SGL with LLMRec's augmented triples, side features and masked feature reconstruction (SGL's own loss kept)."""


LLM_BASELINES = [
    "MF_RLMRecCon", "LightGCN_RLMRecCon", "NGCF_RLMRecCon", "SGL_RLMRecCon",
    "LightGCN_RLMRecGen", "NGCF_RLMRecGen", "SGL_RLMRecGen",
    "MF_KAR", "LightGCN_KAR", "NGCF_KAR", "SGL_KAR",
    "LightGCN_LLMRec", "NGCF_LLMRec", "SGL_LLMRec",
]

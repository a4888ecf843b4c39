"""Hard-negative sampler baselines as named RecBole models: ``<Backbone>_<Sampler>``.

Reference:
    Weinan Zhang et al. "Optimizing Top-N Collaborative Filtering via Dynamic Negative Item Sampling." in SIGIR 2013.
    Tinglin Huang et al. "MixGCF: An Improved Training Method for Graph Neural Network-based Recommender
    Systems." in KDD 2021.
    Riwei Lai et al. "Adaptive Hardness Negative Sampling for Collaborative Filtering." in AAAI 2024.

Reference code:
    https://github.com/huangtinglin/MixGCF
    https://github.com/Riwei-HEU/AHNS

Each is its backbone's ``_HNLM`` class with the semantic parts off (``mix_alpha``, ``align_weight`` and
``anchor_weight`` 0 from ``recbole_hnlm/properties/hnlm.yaml``: :class:`SamplerBaseline` leaves out the
``_HNLM`` models' ``hnlm_model.yaml``) and ``neg_sampler`` set by its own
``recbole_hnlm/properties/model/<Model>.yaml``. The samplers themselves live in :mod:`recbole_hnlm.sampler`
and are shared by all backbones; their hyperparameters (official defaults) are in ``hnlm.yaml``.
RNS is the RecBole backbone itself (``--model=LightGCN``), or ``neg_sampler: rns`` on any of these.

| sampler | MF (RecBole BPR) | LightGCN | NGCF | SGL |
|---|---|---|---|---|
| DNS, DNS(M, N) | MF_DNS | LightGCN_DNS | NGCF_DNS | SGL_DNS |
| MixGCF | MF_MixGCF (positive mixing only: one layer) | LightGCN_MixGCF | NGCF_MixGCF | SGL_MixGCF |
| AHNS | MF_AHNS | LightGCN_AHNS | NGCF_AHNS | SGL_AHNS |
"""
from recbole_hnlm.model.general_recommender.lightgcn_hnlm import LightGCN_HNLM
from recbole_hnlm.model.general_recommender.mf_hnlm import MF_HNLM
from recbole_hnlm.model.general_recommender.ngcf_hnlm import NGCF_HNLM
from recbole_hnlm.model.general_recommender.sgl_hnlm import SGL_HNLM
from recbole_hnlm.model.hnlm import HardNegativeMixin


class SamplerBaseline:
    """The semantic parts off: the shared ``hnlm.yaml`` only, not the ``_HNLM`` models' ``hnlm_model.yaml``."""

    shared_properties = HardNegativeMixin.shared_properties


class MF_DNS(SamplerBaseline, MF_HNLM):
    """MF (BPR) with DNS / DNS(M, N) negatives (``neg_sampler: dns``)."""


class MF_MixGCF(SamplerBaseline, MF_HNLM):
    """MF (BPR) with MixGCF negatives; one embedding layer, so positive mixing only (``neg_sampler: mixgcf``)."""


class MF_AHNS(SamplerBaseline, MF_HNLM):
    """MF (BPR) with AHNS negatives (``neg_sampler: ahns``)."""


class LightGCN_DNS(SamplerBaseline, LightGCN_HNLM):
    """LightGCN with DNS / DNS(M, N) negatives (``neg_sampler: dns``)."""


class LightGCN_MixGCF(SamplerBaseline, LightGCN_HNLM):
    """LightGCN with MixGCF negatives (``neg_sampler: mixgcf``)."""


class LightGCN_AHNS(SamplerBaseline, LightGCN_HNLM):
    """LightGCN with AHNS negatives (``neg_sampler: ahns``)."""


class NGCF_DNS(SamplerBaseline, NGCF_HNLM):
    """NGCF with DNS / DNS(M, N) negatives (``neg_sampler: dns``)."""


class NGCF_MixGCF(SamplerBaseline, NGCF_HNLM):
    """NGCF with MixGCF negatives, mixed per layer and concatenated (``neg_sampler: mixgcf``)."""


class NGCF_AHNS(SamplerBaseline, NGCF_HNLM):
    """NGCF with AHNS negatives (``neg_sampler: ahns``)."""


class SGL_DNS(SamplerBaseline, SGL_HNLM):
    """SGL with DNS / DNS(M, N) negatives; SGL's contrastive loss is kept (``neg_sampler: dns``)."""


class SGL_MixGCF(SamplerBaseline, SGL_HNLM):
    """SGL with MixGCF negatives; SGL's contrastive loss is kept (``neg_sampler: mixgcf``)."""


class SGL_AHNS(SamplerBaseline, SGL_HNLM):
    """SGL with AHNS negatives; SGL's contrastive loss is kept (``neg_sampler: ahns``)."""


SAMPLER_BASELINES = [
    "MF_DNS", "MF_MixGCF", "MF_AHNS",
    "LightGCN_DNS", "LightGCN_MixGCF", "LightGCN_AHNS",
    "NGCF_DNS", "NGCF_MixGCF", "NGCF_AHNS",
    "SGL_DNS", "SGL_MixGCF", "SGL_AHNS",
]

from recbole_hnlm.model.general_recommender.lightgcn_hnlm import LightGCN_HNLM
from recbole_hnlm.model.general_recommender.mf_hnlm import MF_HNLM
from recbole_hnlm.model.general_recommender.ngcf_hnlm import NGCF_HNLM
from recbole_hnlm.model.general_recommender.sampler_baselines import (
    SAMPLER_BASELINES,
    LightGCN_AHNS,
    LightGCN_DNS,
    LightGCN_MixGCF,
    MF_AHNS,
    MF_DNS,
    MF_MixGCF,
    NGCF_AHNS,
    NGCF_DNS,
    NGCF_MixGCF,
    SGL_AHNS,
    SGL_DNS,
    SGL_MixGCF,
)
from recbole_hnlm.model.general_recommender.sgl_hnlm import SGL_HNLM

__all__ = ["MF_HNLM", "LightGCN_HNLM", "NGCF_HNLM", "SGL_HNLM"] + SAMPLER_BASELINES

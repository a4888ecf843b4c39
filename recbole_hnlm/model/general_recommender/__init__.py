from recbole_hnlm.model.general_recommender.lightgcn_hnlm import LightGCN_HNLM
from recbole_hnlm.model.general_recommender.llm_baselines import (
    LLM_BASELINES,
    MF_KAR,
    MF_RLMRecCon,
    LightGCN_KAR,
    LightGCN_LLMRec,
    LightGCN_RLMRecCon,
    LightGCN_RLMRecGen,
    NGCF_KAR,
    NGCF_LLMRec,
    NGCF_RLMRecCon,
    NGCF_RLMRecGen,
    SGL_KAR,
    SGL_LLMRec,
    SGL_RLMRecCon,
    SGL_RLMRecGen,
)
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

__all__ = ["MF_HNLM", "LightGCN_HNLM", "NGCF_HNLM", "SGL_HNLM"] + SAMPLER_BASELINES + LLM_BASELINES

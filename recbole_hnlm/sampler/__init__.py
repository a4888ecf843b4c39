"""Hard-negative samplers usable by every backbone of the plugin (config ``neg_sampler``).

Reference:
    Weinan Zhang et al. "Optimizing Top-N Collaborative Filtering via Dynamic Negative Item Sampling." in SIGIR 2013.
    Tinglin Huang et al. "MixGCF: An Improved Training Method for Graph Neural Network-based Recommender
    Systems." in KDD 2021.
    Riwei Lai et al. "Adaptive Hardness Negative Sampling for Collaborative Filtering." in AAAI 2024.

Reference code:
    https://github.com/huangtinglin/MixGCF
    https://github.com/Riwei-HEU/AHNS

* ``rns``: RecBole's uniform negative (:class:`NegativeSampler`, alias :data:`RNS`);
* ``dns``: DNS and DNS(M, N) (:mod:`recbole_hnlm.sampler.dns`);
* ``mixgcf``: MixGCF's positive and hop mixing (:mod:`recbole_hnlm.sampler.mixgcf`);
* ``ahns``: AHNS's adaptive hardness (:mod:`recbole_hnlm.sampler.ahns`).

:func:`export_hard_negatives` reports the negative any of them chooses for each training pair.
"""
from recbole_hnlm.sampler.base import (  # noqa: F401
    SAMPLERS,
    NegativeSampler,
    SamplerContext,
    TrainPositives,
    build_sampler,
    register_sampler,
)
from recbole_hnlm.sampler.ahns import AHNS  # noqa: F401  (registers "ahns")
from recbole_hnlm.sampler.dns import DNS  # noqa: F401  (registers "dns")
from recbole_hnlm.sampler.mixgcf import MixGCF  # noqa: F401  (registers "mixgcf")

RNS = NegativeSampler

from recbole_hnlm.sampler.export import export_hard_negatives, write_hard_negatives  # noqa: E402,F401

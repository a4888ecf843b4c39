"""The few shims RecBole 1.2.1 needs on today's stack.

setup.py pins what cannot be shimmed cheaply (numpy < 2, scipy < 1.12, setuptools < 81 for ray's
pkg_resources). RecBole's checkpoints, which torch >= 2.6 no longer loads by default, are read by
``recbole_hnlm.checkpoint``. What remains is done here, once, at import time:

* Deprecation warnings that RecBole triggers on every batch (sparse tensor constructors,
  ``torch.cuda.amp``) flood the log; they are filtered by message, nothing else is hidden.
"""
import warnings

_QUIET = [
    r"torch\.sparse\.SparseTensor\(indices, values",
    r".*torch\.cuda\.amp\.GradScaler\(args\.\.\.\)` is deprecated.*",
    r".*Sparse CSR tensor support is in beta.*",
    r".*sparse_coo_tensor.*",
    r"pkg_resources is deprecated as an API.*",
    r".*Deprecated call to `pkg_resources.declare_namespace.*",
]
for _msg in _QUIET:
    warnings.filterwarnings("ignore", message=_msg)
warnings.filterwarnings("ignore", category=FutureWarning, module=r"recbole\..*")
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(ray|pkg_resources|google)(\..*)?")

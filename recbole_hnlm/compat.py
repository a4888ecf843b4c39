"""The few shims RecBole 1.2.1 needs on today's stack.

setup.py pins what cannot be shimmed cheaply (numpy < 2, scipy < 1.12, setuptools < 81 for ray's
pkg_resources). What remains is done here, once, at import time:

* torch >= 2.6 loads checkpoints with ``weights_only=True`` by default, but RecBole's checkpoints
  pickle the whole Config. ``trusted_torch_load`` is used by the plugin's trainer for the files it
  wrote itself (see ``recbole_hnlm.trainer``); nothing global is changed.
* Deprecation warnings that RecBole triggers on every batch (sparse tensor constructors,
  ``torch.cuda.amp``) flood the log; they are filtered by message, nothing else is hidden.
"""
import contextlib
import functools
import warnings

import torch

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


@contextlib.contextmanager
def trusted_torch_load():
    """Within the block, ``torch.load`` reads full pickles (RecBole checkpoints hold a Config).

    Only for checkpoint files this process's trainer wrote; ``weights_only`` passed explicitly wins.
    """
    original = torch.load

    @functools.wraps(original)
    def load(*args, **kwargs):
        kwargs.setdefault("weights_only", False)
        return original(*args, **kwargs)

    torch.load = load
    try:
        yield
    finally:
        torch.load = original

"""The few shims RecBole 1.2.1 needs on today's stack.

setup.py pins what cannot be shimmed cheaply (numpy < 2, scipy < 1.12, setuptools < 81 for ray's
pkg_resources). RecBole's checkpoints, which torch >= 2.6 no longer loads by default, are read by
``recbole_hnlm.checkpoint``. What remains is done here, once, at import time:

* Deprecation warnings that RecBole triggers on every batch (sparse tensor constructors,
  ``torch.cuda.amp``) flood the log; they are filtered by message, nothing else is hidden.

RecBole's data-parallel training (``nproc``, ``world_size``) is GPU-only in 1.2.1: its Config asserts one
``gpu_id`` per process and joins an NCCL group, its Trainer wraps the model in DDP with
``device_ids=[local_rank]``. :func:`init_cpu_process_group` (called by the plugin's Config) and
``recbole_hnlm.trainer.CpuDistributedMixin`` do the same on CPUs with the gloo backend.
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


def init_cpu_process_group(config_dict):
    """RecBole's ``Config._init_device`` for a rank of a CPU run: a gloo group, and the same per-rank settings."""
    import torch

    torch.distributed.init_process_group(
        backend="gloo",
        rank=config_dict["local_rank"] + config_dict["offset"],
        world_size=config_dict["world_size"],
        init_method=f"tcp://{config_dict['ip']}:{config_dict['port']}",
    )
    config_dict["device"] = torch.device("cpu")
    config_dict["single_spec"] = False
    if config_dict["local_rank"] != 0:
        config_dict.update({"state": "error", "show_progress": False, "verbose": False})

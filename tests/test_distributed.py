"""Data-parallel training on CPUs: 2 gloo processes through RecBole's DDP, against one process."""
import socket

import pytest

from recbole_hnlm.quick_start import parse_args, run
from tests.conftest import base_config

# Same data, epochs and global batch (each rank takes 512 of the 1024 rows), but the batches come in another
# order (DistributedSampler) with other negatives, so the numbers are close, not equal: the two-process run
# must land among one-process runs with other training seeds. Seen on this config (anchor_max_items 256):
# train_seed 2020/2021/2022 in one process give recall@20 0.0617/0.0692/0.0642 and ndcg@20 0.0274/0.0327/0.0317;
# 2 processes give 0.0675 and 0.0306 (twice alike).
SEEDS = (2020, 2021, 2022)
MARGIN = 0.002


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_takes_recboles_distributed_arguments():
    args = parse_args(["--nproc=2", "--world_size=4", "--ip=10.0.0.1", "--port=29500", "--group_offset=2"])
    assert (args.nproc, args.world_size, args.ip, args.port, args.group_offset) == (2, 4, "10.0.0.1", "29500", 2)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(data_root):
    """HNLM with DNS and the semantic guard: feature lookups, training positives and semantic candidates per rank."""
    cfg = base_config(data_root, mix_alpha=0.2, anchor_weight=0.1, neg_sampler="dns", semantic_guard_cos=0.8)
    singles = [run(model="LightGCN_HNLM", config_dict=dict(cfg, train_seed=seed), saved=False) for seed in SEEDS]
    two = run(model="LightGCN_HNLM", config_dict=dict(cfg), saved=False, nproc=2, ip="127.0.0.1",
              port=str(_free_port()))
    assert two is not None and len(two["train_loss"]) == 1
    for metric in ("recall@20", "ndcg@20"):
        seen = [r["test_result"][metric] for r in singles]
        assert two["test_result"][metric] > 0
        assert min(seen) - MARGIN <= two["test_result"][metric] <= max(seen) + MARGIN, (metric, seen, two)

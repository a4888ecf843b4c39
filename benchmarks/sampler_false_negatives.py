"""How often does each sampler choose a held-out positive (a false negative) as its hard negative?

    python benchmarks/sampler_false_negatives.py --dataset ml-100k --epochs 30 -- --learning_rate=0.01

Trains LightGCN with RNS (``LightGCN_DNS`` with ``dns_m=1``, which is RNS exactly) for ``--epochs``,
then, on that one model, runs every sampler over all training pairs (``export_hard_negatives``)
and reports the share of chosen negatives that are the user's validation or test items. Dense data
(ml-100k: ~1.2 % of the items are a user's held-out items) makes the hardest of M candidates often a
true positive, which a uniform negative rarely is.
"""
import argparse
import sys

import torch

from recbole_hnlm.quick_start import prepare
from recbole_hnlm.sampler import TrainPositives, build_sampler, export_hard_negatives
from recbole_hnlm.utils import get_model, get_trainer

SAMPLERS = [
    ("rns", {}), ("dns", {"dns_m": 8}), ("dns", {"dns_m": 32}), ("dns", {"dns_m": 32, "dns_n": 5}),
    ("mixgcf", {"mixgcf_m": 16}), ("mixgcf", {"mixgcf_m": 64}), ("ahns", {"ahns_m": 32}),
]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    own, extra = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args(own)
    import yaml

    overrides = {k.lstrip("-"): yaml.safe_load(v) for k, _, v in (e.partition("=") for e in extra)}
    sys.argv = sys.argv[:1]
    cfg = dict(overrides, epochs=args.epochs, dns_m=1, show_progress=False, state="WARNING")
    config, _, train_data, valid_data, test_data = prepare("LightGCN_DNS", args.dataset, config_dict=cfg)
    model = get_model("LightGCN_DNS")(config, train_data.dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], "LightGCN_DNS")(config, model)
    _, best = trainer.fit(train_data, valid_data, saved=False, show_progress=False)
    print(f"trained {args.epochs} epochs (RNS); last-epoch model, best valid {dict(best)}", file=sys.stderr)
    ds = train_data.dataset
    held_out = TrainPositives(valid_data.dataset, test_data.dataset)
    print("| sampler | settings | chosen negatives that are held-out positives |")
    print("|---|---|---|")
    for name, params in SAMPLERS:
        for key, value in params.items():
            config[key] = value
        config["neg_sampler"] = name
        model.neg_sampler = build_sampler(config, ds).to(model.device)
        torch.manual_seed(0)
        users, _, negs = export_hard_negatives(model, train_data)
        u = torch.as_tensor(ds.token2id(ds.uid_field, users))
        n = torch.as_tensor(ds.token2id(ds.iid_field, negs))
        share = float(held_out.contains(u, n).float().mean())
        print(f"| {name} | {params or '-'} | {share:.2%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CPU time of one training step (forward, backward, Adam) of several models on the same batches.

    python benchmarks/probes/batch_cost.py ml-100k LightGCN LightGCN_HNLM LightGCN_HNLM@anchor_max_items=256 \
        [--batches 40] [--data_path atomic_data] [--profile LightGCN_HNLM]

``Model@key=value+key=value`` overrides settings. One torch thread; each model takes the first ``--batches``
training batches, warms up on three, and prints its mean CPU ms per step and the ratio to the
first model. ``--profile NAME`` also prints ``torch.profiler``'s table for that entry.
"""
import argparse
import time

import torch
import yaml

from recbole.utils import init_seed

from recbole_hnlm.quick_start import prepare
from recbole_hnlm.utils import get_model


def parse_entry(spec):
    name, _, over = spec.partition("@")
    return name, {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in over.split("+") if kv)}


def training_steps(dataset, name, extra, batches, data_path):
    """(step, batches): one training step (forward, backward, Adam) of model ``name`` on a batch, and the first
    ``batches`` + 3 training batches of ``dataset``."""
    config, _, train_data, _, _ = prepare(model=name, dataset=dataset, config_dict={
        "data_path": data_path, "show_progress": False, "state": "WARNING", **extra})
    init_seed(config["seed"], True)
    model = get_model(config["model"])(config, train_data.dataset).to(config["device"])
    opt = torch.optim.Adam(model.parameters(), lr=config["learning_rate"])
    taken = []
    for batch in train_data:
        taken.append(batch)
        if len(taken) >= batches + 3:
            break

    def step(batch):
        opt.zero_grad()
        loss = model.calculate_loss(batch)
        (sum(loss) if isinstance(loss, tuple) else loss).backward()
        opt.step()

    return step, taken


def step_cost(dataset, spec, batches, data_path, profile):
    name, extra = parse_entry(spec)
    step, taken = training_steps(dataset, name, extra, batches, data_path)
    if len(taken) < 4:
        raise SystemExit(f"{dataset}: {len(taken)} training batches; the probe needs at least 4 (3 warm-up)")
    for batch in taken[:3]:
        step(batch)
    start = time.process_time()
    for batch in taken[3:]:
        step(batch)
    cost = (time.process_time() - start) / len(taken[3:])
    if profile:
        with torch.profiler.profile() as prof:
            for batch in taken[3:]:
                step(batch)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    return cost


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--data_path", default="atomic_data")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    costs = {spec: step_cost(args.dataset, spec, args.batches, args.data_path, spec == args.profile)
             for spec in args.models}
    first = costs[args.models[0]]
    print("| model | CPU ms / step | x first |\n|---|---|---|")
    for spec, cost in costs.items():
        print(f"| {spec} | {cost * 1000:.1f} | {cost / first:.2f} |")


if __name__ == "__main__":
    main()

"""The plugin's counterpart of ``recbole.quick_start``: one training and evaluation run."""
import recbole_hnlm.compat  # noqa: F401,I001  (RecBole 1.2.1 shims, before RecBole is imported)
import argparse
import logging
import sys
from logging import getLogger

from recbole.data import create_dataset, data_preparation
from recbole.utils import init_logger, init_seed, set_color

from recbole_hnlm.config import Config
from recbole_hnlm.settings import SettingError
from recbole_hnlm.utils import get_model, get_trainer


def prepare(model=None, dataset=None, config_file_list=None, config_dict=None):
    """Config, dataset and the three dataloaders, with the dataset's derived files ensured.

    The default demo set is generated on first use; a model that needs semantic features gets
    them built (or checked) before it is constructed.
    """
    from recbole_hnlm.data.demo import ensure_demo_dataset

    config = Config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    ensure_demo_dataset(config)
    logger.info(sys.argv)
    logger.info(config)
    dataset = create_dataset(config)
    logger.info(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    ensure_model_features(config, train_data.dataset)
    return config, dataset, train_data, valid_data, test_data


def ensure_model_features(config, train_dataset):
    """Build or check the feature sets that ``config['model']`` declares (``feature_names``)."""
    from recbole_hnlm.features import ensure_features

    feature_names = getattr(get_model(config["model"]), "feature_names", None)
    if feature_names is not None:
        ensure_features(config, train_dataset, feature_names(config))


class RunHooks:
    """What a caller (the benchmark) adds to :func:`run_recbole_hnlm`, at three points of its one flow.

    ``after_prepare`` may replace the training loader (e.g. a sparser share); ``before_fit`` may attach
    :class:`~recbole_hnlm.trainer.RunListener` s to ``trainer.listeners``; ``after_test`` measures the
    trained (best) model and returns entries for the result dict.
    """

    def after_prepare(self, config, train_data, valid_data, test_data):
        return train_data

    def before_fit(self, config, model, trainer, train_data, valid_data, test_data):
        pass

    def after_test(self, config, model, trainer, train_data, valid_data, test_data):
        return {}


def run_recbole_hnlm(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True, hooks=None,
                     resume_file=None):
    """Train ``model`` on ``dataset`` with RecBole's trainer, early stopping and evaluators.

    Returns a dict with ``best_valid_score``, ``best_valid_result`` and ``test_result``, as RecBole's
    ``run_recbole`` does, plus the per-epoch record (``epoch_seconds``, ``train_loss``, ``valid_curve``).
    ``resume_file``: a checkpoint of the same model and split to continue from (the epoch after it).
    The command line and the benchmark both run this function (the benchmark through ``hooks``).
    """
    hooks = hooks or RunHooks()
    config, _, train_data, valid_data, test_data = prepare(model, dataset, config_file_list, config_dict)
    logger = getLogger()
    train_data = hooks.after_prepare(config, train_data, valid_data, test_data)
    # `train_seed` varies model init and batch order while `seed` keeps the data split fixed
    init_seed(config["train_seed"] + config["local_rank"], config["reproducibility"])
    train_data.generator.manual_seed(config["train_seed"])
    model = get_model(config["model"])(config, train_data.dataset).to(config["device"])
    logger.info(model)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    if resume_file:
        trainer.resume_checkpoint(resume_file)
    hooks.before_fit(config, model, trainer, train_data, valid_data, test_data)
    best_valid_score, best_valid_result = trainer.fit(
        train_data, valid_data, saved=saved, show_progress=config["show_progress"]
    )
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=config["show_progress"])
    logger.info(set_color("best valid ", "yellow") + f": {best_valid_result}")
    logger.info(set_color("test result", "yellow") + f": {test_result}")
    result = {
        "model": config["model"],
        "dataset": config["dataset"],
        "best_valid_score": best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": dict(best_valid_result or {}),
        "test_result": dict(test_result or {}),
        "epoch_seconds": [e["seconds"] for e in trainer.train_epochs],
        "train_loss": [e["loss"] for e in trainer.train_epochs],
        "valid_curve": list(trainer.valid_epochs),
        "saved_model_file": trainer.saved_model_file if saved else None,
    }
    result.update(hooks.after_test(config, model, trainer, train_data, valid_data, test_data) or {})
    if not config["single_spec"]:
        import torch.distributed as dist

        dist.destroy_process_group()
    return result


def run(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True, resume_file=None,
        nproc=1, world_size=-1, ip="localhost", port="5678", group_offset=0):
    """:func:`run_recbole_hnlm`, or ``nproc`` processes of it on this machine joined in one data-parallel group.

    The arguments are those of RecBole's ``run_recbole.py`` (``world_size``: processes on every machine
    together; ``group_offset``: rank of this machine's first). Each rank trains on its shard of every batch
    (RecBole's DistributedSampler) with DDP: NCCL on GPUs, gloo on CPUs (:mod:`recbole_hnlm.compat`).
    Returns rank 0's result on the machine with offset 0, None on the others.
    """
    if nproc == 1 and world_size <= 0:
        return run_recbole_hnlm(model, dataset, config_file_list, config_dict, saved=saved, resume_file=resume_file)
    import torch.multiprocessing as mp

    # the demo data and the feature sets are made once here, not by every rank at the same time
    prepare(model, dataset, config_file_list, config_dict)
    queue = mp.get_context("spawn").SimpleQueue()
    config_dict = dict(config_dict or {}, world_size=nproc if world_size == -1 else world_size, ip=ip,
                       port=port, nproc=nproc, offset=group_offset)
    mp.spawn(_run_rank, args=(model, dataset, config_file_list, config_dict, saved, resume_file, queue),
             nprocs=nproc, join=True)
    return None if queue.empty() else queue.get()


def _run_rank(rank, model, dataset, config_file_list, config_dict, saved, resume_file, queue):
    result = run_recbole_hnlm(model, dataset, config_file_list, dict(config_dict, local_rank=rank), saved=saved,
                              resume_file=resume_file)
    if rank == 0 and config_dict["offset"] == 0:
        queue.put(result)


def parse_args(argv=None):
    """``run_recbole.py``'s command line: --model, --dataset, --config_files, and --key=value overrides.

    Unknown ``--key=value`` pairs are left for RecBole's Config, which reads them from ``sys.argv``.
    """
    parser = argparse.ArgumentParser(description="Train and evaluate a RecBole or recbole-hnlm model.")
    parser.add_argument("--model", "-m", type=str, default="LightGCN_HNLM", help="model name")
    parser.add_argument("--dataset", "-d", type=str, default=None, help="dataset name (default: the demo set)")
    parser.add_argument("--config_files", type=str, default=None, help="space-separated config files")
    parser.add_argument("--saved", type=str, default="True", help="save the best checkpoint (True/False)")
    parser.add_argument("--resume", type=str, default=None, help="checkpoint (.pth) to continue training from")
    # RecBole's run_recbole.py distributed arguments
    parser.add_argument("--nproc", type=int, default=1, help="processes on this machine")
    parser.add_argument("--world_size", type=int, default=-1, help="processes on all machines (default: nproc)")
    parser.add_argument("--ip", type=str, default="localhost", help="address of the machine of rank 0")
    parser.add_argument("--port", type=str, default="5678", help="port of the machine of rank 0")
    parser.add_argument("--group_offset", type=int, default=0, help="global rank of this machine's first process")
    args, _ = parser.parse_known_args(argv)
    return args


def main(argv=None):
    """The command line; a setting its declaration refuses exits with status 2 and the reason."""
    args = parse_args(argv)
    config_files = args.config_files.strip().split(" ") if args.config_files else None
    try:
        result = run(
            model=args.model, dataset=args.dataset, config_file_list=config_files,
            saved=args.saved.lower() not in ("false", "0", "no"), resume_file=args.resume, nproc=args.nproc,
            world_size=args.world_size, ip=args.ip, port=args.port, group_offset=args.group_offset,
        )
    except SettingError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    if result is not None:  # None on the machines of a multi-machine run other than rank 0's
        logging.getLogger().info("done: %s", {k: result[k] for k in ("model", "dataset", "test_result")})
    return result


if __name__ == "__main__":
    main()

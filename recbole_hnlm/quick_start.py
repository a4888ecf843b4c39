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
    return result


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
    args, _ = parser.parse_known_args(argv)
    return args


def main(argv=None):
    """The command line; a setting its declaration refuses exits with status 2 and the reason."""
    args = parse_args(argv)
    config_files = args.config_files.strip().split(" ") if args.config_files else None
    try:
        result = run_recbole_hnlm(
            model=args.model, dataset=args.dataset, config_file_list=config_files,
            saved=args.saved.lower() not in ("false", "0", "no"), resume_file=args.resume,
        )
    except SettingError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    logging.getLogger().info("done: %s", {k: result[k] for k in ("model", "dataset", "test_result")})
    return result


if __name__ == "__main__":
    main()

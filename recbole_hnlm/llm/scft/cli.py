"""Command line of SCFT (HNLMRec Sec. 4, Eq. 11-12).

    python -m recbole_hnlm.llm.scft finetune --dataset <ds> --scft_teacher=<checkpoint.pth> [--key=value ...]
    python -m recbole_hnlm.llm.scft export   --dataset <ds> --scft_teacher=<checkpoint.pth> [--scft_granularity=user]
    python -m recbole_hnlm.llm.scft all      ...   (finetune, then export)
    accelerate launch -m recbole_hnlm.llm.scft finetune ...   (several GPUs; export runs on the main process)

Settings follow RecBole's conventions: ``recbole_hnlm/properties/llm.yaml`` and ``scft.yaml``, then
the dataset's yamls, ``--config_files`` and ``--key=value``. The training split is RecBole's, made with
the same config as training the recommender (``eval_args``, ``seed``); the teacher must share it.
"""
import argparse
import os

from recbole_hnlm.config import PROPERTIES_DIR

COMMANDS = ("finetune", "export", "all")
SCFT_YAML = os.path.join(PROPERTIES_DIR, "scft.yaml")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m recbole_hnlm.llm.scft",
        description="HNLMRec SCFT: fine-tune an LLM on a CF teacher's hard negatives (Eq. 11-12), export embeddings.",
        epilog="Any other setting as --key=value (see recbole_hnlm/properties/scft.yaml).",
    )
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--dataset", "-d", default=None, help="dataset under data_path (default: the demo set)")
    parser.add_argument("--config_files", default=None, help="space-separated config files")
    from recbole_hnlm.llm.cli import parse_with_settings

    return parse_with_settings(parser, argv)


def load(dataset=None, config_files=None, overrides=(), config_dict=None):
    """``(config, DatasetContext)`` with the LLM and SCFT defaults and the training split."""
    from recbole_hnlm.llm.cli import load as load_llm

    return load_llm(dataset, [SCFT_YAML] + list(config_files or []), overrides, config_dict)


def main(argv=None, config_dict=None, on_step=None):
    """Run a command; returns ``{"finetune": summary, "export": summary}`` (what ran)."""
    from recbole_hnlm.llm.scft.encoder import is_encoder
    from recbole_hnlm.llm.scft.export import export_features
    from recbole_hnlm.llm.scft.settings import SCFTSettings
    from recbole_hnlm.llm.scft.train import finetune, make_accelerator

    args, overrides = parse_args(argv)
    files = args.config_files.split() if args.config_files else None
    config, ctx = load(args.dataset, files, overrides, config_dict)
    settings = SCFTSettings.from_config(config)  # checked before the teacher, the texts or the LLM are touched
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)
    out = {}
    if is_encoder(config):
        return run_encoder(args.command, config, ctx)
    acc = None
    if args.command in ("finetune", "all"):
        acc = make_accelerator(config)
        out["finetune"] = finetune(config, ctx, acc, on_step=on_step)
        if not out["finetune"]["finished"]:
            return out
    if args.command in ("export", "all") and (acc is None or acc.is_main_process):
        out["export"] = export_features(config, ctx)
    return out


def run_encoder(command, config, ctx):
    """A sentence-transformers base: fine-tuning ends in a plain model folder, which is the export."""
    from recbole_hnlm.llm.scft.encoder import export_command, finetune_encoder, finished_summary

    summary = finished_summary(config) if command == "export" else finetune_encoder(config, ctx)
    out = {"finetune": summary} if command in ("finetune", "all") else {}
    if summary["finished"]:
        out["export"] = {"model_dir": summary["model_dir"], "text_embedder": summary["text_embedder"],
                         "command": export_command(config, summary)}
        print(f"fine-tuned encoder: {summary['model_dir']}\nbuilt-in feature sets from it:\n"
              f"  {out['export']['command']}")
    return out


def entry_point():
    from recbole_hnlm.checkpoint import CheckpointError
    from recbole_hnlm.llm.cli import run_command
    from recbole_hnlm.llm.scft.teacher import TeacherError
    from recbole_hnlm.llm.scft.train import ResumeError
    from recbole_hnlm.settings import SettingError

    run_command(main, (CheckpointError, TeacherError, ResumeError, SettingError, FileNotFoundError),
                "rerun the same command to resume from the last checkpoint")

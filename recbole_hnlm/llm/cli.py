"""Command line of the offline LLM module (stage 1 of HNLMRec, its "w/o SCFT" variant, Eq. 2-5).

    python -m recbole_hnlm.llm <stage|all> --dataset <ds> [--config_files "a.yaml b.yaml"] [--dry_run] [--key=value ...]

Stages, in order: ``item_profiles`` (Eq. 2), ``user_profiles`` (Eq. 3), ``negatives`` (Eq. 4),
``export`` (Eq. 5); ``all`` runs the four. ``llmrec_augment`` (not part of ``all``) asks for the
augmented triples of the LLMRec baseline (:mod:`recbole_hnlm.llm.augment`). Settings follow RecBole's conventions: defaults in
``recbole_hnlm/properties/llm.yaml``, then the dataset's yamls, ``--config_files``, and ``--key=value``.
The training split is RecBole's, made with the same config as training (``eval_args``, ``seed``).
"""
import argparse
import contextlib
import json
import logging
import os
import sys

from recbole_hnlm.config import PROPERTIES_DIR

STAGES = ("item_profiles", "user_profiles", "negatives", "export")
EXTRA_STAGES = ("llmrec_augment",)  # for a baseline; not run by "all"
SHOW = "show"  # prints stored answers; asks nothing
LLM_YAML = os.path.join(PROPERTIES_DIR, "llm.yaml")
# the settings of the models that read what this module writes (built-in and profile feature sets, their checks)
MODEL_YAMLS = [os.path.join(PROPERTIES_DIR, f) for f in ("hnlm.yaml", "llm_enhanced.yaml")]
SPLIT_MODEL = "LightGCN"  # any general model: only its config's split settings and the dataset are used


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m recbole_hnlm.llm",
        description="HNLMRec offline stage 1: item and user profiles, semantic hard negatives, embeddings, export.",
        epilog="Any other setting as --key=value (see recbole_hnlm/properties/llm.yaml).",
    )
    parser.add_argument("stage", choices=STAGES + ("all", SHOW) + EXTRA_STAGES,
                        help="the stage to run, all of them in order, show: print stored answers as markdown, "
                             "or llmrec_augment: LLMRec's augmented triples")
    parser.add_argument("--subjects", nargs="+", default=None,
                        help="show: the item / user tokens (or user<TAB>item pairs) to print; default the first --n")
    parser.add_argument("--n", type=int, default=5, help="show: answers per stage when --subjects is not given")
    parser.add_argument("--dataset", "-d", default=None, help="dataset under data_path (default: the demo set)")
    parser.add_argument("--config_files", default=None, help="space-separated config files")
    parser.add_argument("--model", default=SPLIT_MODEL, help="model whose config makes the split (default LightGCN)")
    parser.add_argument("--dry_run", action="store_true", help="count calls, estimate tokens and cost, ask nothing")
    args, overrides = parse_with_settings(parser, argv)
    if args.dry_run:
        overrides.append("--llm_dry_run=True")
    return args, overrides


def parse_with_settings(parser, argv=None):
    """``(args, overrides)``: the parser's arguments, and every other argument as a ``--key=value`` setting
    (``--dataset`` included), in the form RecBole's command line reads them."""
    args, rest = parser.parse_known_args(argv)
    overrides = []
    for arg in rest:
        if not arg.startswith("--") or "=" not in arg:
            parser.error(f"unrecognised argument {arg!r}: settings are given as --key=value")
        overrides.append(arg)
    if args.dataset:
        overrides.append(f"--dataset={args.dataset}")
    return args, overrides


@contextlib.contextmanager
def _argv(overrides):
    """RecBole's Config reads ``sys.argv``; give it exactly the ``--key=value`` settings of this command."""
    saved = sys.argv
    sys.argv = [saved[0] if saved else "recbole_hnlm.llm"] + list(overrides)
    try:
        yield
    finally:
        sys.argv = saved


def load(dataset=None, config_files=None, overrides=(), config_dict=None, model=SPLIT_MODEL):
    """``(config, DatasetContext)``: the run's config with the LLM defaults, and the training split's view."""
    from recbole_hnlm.llm.context import DatasetContext
    from recbole_hnlm.quick_start import prepare

    files = MODEL_YAMLS + [LLM_YAML] + list(config_files or [])
    with _argv(overrides):
        config, _, train_data, _, _ = prepare(model, dataset, config_file_list=files, config_dict=config_dict)
    return config, DatasetContext(config, train_data.dataset)


def output_dir(config):
    """``llm_output_dir``, or ``<data_path>/<ds>/hnlm`` (derived files live next to the converted dataset)."""
    return config["llm_output_dir"] or os.path.join(config["data_path"], "hnlm")


def run_stages(stage, run, ctx):
    """Run ``stage`` (or all four) on an open :class:`~recbole_hnlm.llm.runner.LLMRun`."""
    from recbole_hnlm.llm.augment import llmrec_augment
    from recbole_hnlm.llm.export import export
    from recbole_hnlm.llm.negatives import hard_negatives
    from recbole_hnlm.llm.profiles import item_profiles, user_profiles

    todo = STAGES if stage == "all" else (stage,)
    items = None
    for name in todo:
        if name == "item_profiles":
            items = item_profiles(run, ctx)
        elif name == "user_profiles":
            user_profiles(run, ctx, items)
        elif name == "negatives":
            hard_negatives(run, ctx)
        elif name == "export":
            export(run, ctx)
        elif name == "llmrec_augment":
            llmrec_augment(run, ctx)


def show(run, ctx, subjects=None, n=5):
    """Markdown of stored answers: item profiles, user profiles and negatives, with item titles."""
    from recbole_hnlm.llm.negatives import granularity

    def label(subject):
        if "\t" in subject:
            u, i = subject.split("\t")
            return f"user {u}, item {i} ({ctx.title(i)})"
        return subject if subject not in ctx.items else f"item {subject} ({ctx.title(subject)})"

    lines = [f"# Stored LLM answers: {ctx.config['dataset']}, {run.model_id}", ""]
    for stage, title in (("item_profiles", "Item profiles (Eq. 2)"), ("user_profiles", "User profiles (Eq. 3)"),
                         ("negatives", f"Hard negatives (Eq. 4, {granularity(run.config)} granularity)")):
        rows = run.store.samples(stage, run.model_id, subjects, n)
        lines += [f"## {title}", ""]
        for subject, status, value in rows:
            shown = json.dumps(value, ensure_ascii=False) if status == "ok" else f"(failed) {value}"
            lines += [f"* **{label(subject) if stage != 'user_profiles' else 'user ' + subject}**: {shown}"]
        lines += ["" if rows else "(none stored)", ""]
    return "\n".join(lines)


def main(argv=None, backend=None, config_dict=None):
    """Run the command line; returns the run's summary (also written to ``llm_summary.json``).

    ``backend`` replaces the configured chat backend (tests, notebooks); ``config_dict`` adds settings.
    """
    from recbole_hnlm.llm.runner import LLMRun

    args, overrides = parse_args(argv)
    config_files = args.config_files.split() if args.config_files else None
    config, ctx = load(args.dataset, config_files, overrides, config_dict, model=args.model)
    if config["llm_num_threads"]:
        import torch

        torch.set_num_threads(int(config["llm_num_threads"]))
    run = LLMRun(config, output_dir(config), backend=backend)
    if args.stage == SHOW:
        try:
            print(show(run, ctx, args.subjects, args.n))
        finally:
            run.store.close()
        return None
    logger = logging.getLogger()
    logger.info(f"recbole_hnlm.llm {args.stage}: dataset {config['dataset']}, model {run.model_id}, "
                f"output {run.out_dir}" + (" [dry run]" if run.dry_run else ""))
    try:
        run_stages(args.stage, run, ctx)
    finally:  # a killed or failed run still reports what it did
        summary = run.write_summary()
        run.store.close()
    return summary


def run_command(main, errors, interrupted):
    """Run a command's ``main``: an expected error (one of ``errors``) exits 2 with its message, Ctrl-C exits
    130 with ``interrupted`` (what a rerun resumes)."""
    try:
        main()
    except errors as e:
        logging.getLogger().error(str(e))
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"interrupted: {interrupted}", file=sys.stderr)
        sys.exit(130)


def entry_point():
    from recbole_hnlm.llm.backends import BackendError
    from recbole_hnlm.settings import SettingError

    run_command(main, (BackendError, SettingError),
                "answers received so far are stored; run the same command again to resume")

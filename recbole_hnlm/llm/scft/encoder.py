"""SCFT on a sentence-transformers text encoder (all-MiniLM-L6-v2 by default): the built-in text space made CF-aware.

Reference: HNLMRec (Zhao et al. 2025), Sec. 4, Eq. 12; the encoder, its pooling and the training stack are
sentence-transformers' own (Reimers & Gurevych 2019, https://github.com/UKPLab/sentence-transformers).

* Base model (``scft_base_model``): ``minilm``, ``st:<path>`` or any local sentence-transformers folder;
  queries and labels both go through the encoder's own pooling (one model, one code path, as Eq. 12 asks).
* HNLM Eq. 12: ``MultipleNegativesRankingLoss`` with scale 1 / ``scft_tau`` is InfoNCE over cosine with the
  other labels of the batch as negatives; ``NO_DUPLICATES`` batches never hold a text twice.
* Labels (``scft_encoder_label``): :mod:`recbole_hnlm.llm.scft.encoder_labels`.
* ``SentenceTransformerTrainer`` does the schedule, checkpoints (``<run>/checkpoints/checkpoint-N``) and
  resume; :class:`RetrievalEvaluator` logs the held-out in-batch retrieval accuracy, chance and the
  teacher's ceiling at step 0, every ``scft_eval_steps`` and at the end, into ``history.json`` as the
  LLM path does (``python -m recbole_hnlm.llm.scft.report`` reads it).
* Export: ``<run>/final`` is a plain sentence-transformers folder; ``hnlm_text_embedder: st:<that folder>``
  rebuilds the built-in feature sets with it.

The CF soft tokens of Eq. 11 are not used here: the exported encoder embeds item texts for the built-in
sets, where no teacher vectors exist, so the CF signal has to end up in the text weights.
"""
import json
import logging
import os

import numpy as np
import torch
from sentence_transformers.evaluation import SentenceEvaluator

from recbole_hnlm.llm.scft.data import distinct_label_batches
from recbole_hnlm.files import atomic_write_json
from recbole_hnlm.llm.scft.encoder_labels import encoder_pairs, query_vectors
from recbole_hnlm.llm.scft.settings import SCFTSettings
from recbole_hnlm.llm.scft.teacher import teacher_data
from recbole_hnlm.llm.scft.texts import run_texts
from recbole_hnlm.llm.scft.train import (
    ResumeError,
    fingerprint,
    in_batch_accuracy,
    run_dir,
    teacher_accuracy,
)
from recbole_hnlm.model.layers import info_nce_in_batch

FINAL_DIR = "final"
RUN_FILE = "encoder.json"


def encoder_path(spec):
    """The folder of a sentence-transformers base model, or None when ``spec`` names a decoder LLM.

    ``minilm``, ``st:<path>``, or a local folder with sentence-transformers' ``modules.json``.
    """
    from recbole_hnlm.features.embedder import minilm_path

    if spec == "minilm":
        return minilm_path()
    if spec.startswith("st:"):
        path = os.path.expanduser(spec[3:])
        if not os.path.isfile(os.path.join(path, "modules.json")):
            raise FileNotFoundError(f"scft_base_model: {path} is not a sentence-transformers folder (no modules.json)")
        return path
    path = os.path.expanduser(spec)
    return path if os.path.isfile(os.path.join(path, "modules.json")) else None


def is_encoder(config):
    return encoder_path(SCFTSettings.from_config(config).base_model) is not None


class RetrievalEvaluator(SentenceEvaluator):
    """Held-out in-batch retrieval accuracy (chance = 1 / batch), InfoNCE loss and the teacher's ceiling.

    Batches are those of the LLM path (:func:`distinct_label_batches`, no label twice), so the two
    paths' numbers compare. Returned keys land in the trainer's log as ``eval_acc``, ``eval_chance``...
    """

    def __init__(self, pairs, batch_size, tau, teacher_query, teacher_items, seed):
        super().__init__()
        self.primary_metric = "acc"
        self.pairs, self.tau = pairs, tau
        self.batches = distinct_label_batches(pairs.label_ids, batch_size, seed, drop_last=len(pairs) >= batch_size)
        query, items = torch.from_numpy(teacher_query), torch.from_numpy(teacher_items)
        hits = [teacher_accuracy(query, items, pairs.query_ids[b], pairs.label_ids[b]) * len(b) for b in self.batches]
        self.teacher_acc = float(np.sum(hits) / max(1, sum(len(b) for b in self.batches)))  # the ceiling

    def __call__(self, model, output_path=None, epoch=-1, steps=-1):
        q = torch.from_numpy(model.encode(self.pairs.anchors, convert_to_numpy=True, show_progress_bar=False))
        lab = torch.from_numpy(model.encode(self.pairs.positives, convert_to_numpy=True, show_progress_bar=False))
        n = loss = acc = chance = 0.0
        for b in self.batches:
            w = len(b)
            loss += float(info_nce_in_batch(q[b], lab[b], self.tau)) * w
            acc += float(in_batch_accuracy(q[b], lab[b])) * w
            chance += 1.0
            n += w
        return {"loss": loss / n, "acc": acc / n, "chance": chance / n, "teacher_acc": self.teacher_acc, "pairs": n}


def _stop_after(new_steps):
    """A callback that ends this invocation (with a checkpoint) after ``new_steps`` optimizer steps."""
    from transformers import TrainerCallback

    class StopAfter(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            self.start = state.global_step

        def on_step_end(self, args, state, control, **kw):
            if state.global_step - self.start >= new_steps and state.global_step < state.max_steps:
                control.should_training_stop = True
                control.should_save = True

    return StopAfter()


def _history_on_save(path):
    """A callback that rewrites ``history.json`` at every checkpoint, so that a run stopped by a kill
    still has its curve up to its last checkpoint (``python -m recbole_hnlm.llm.scft.report``)."""
    from transformers import TrainerCallback

    class WriteHistory(TrainerCallback):
        def on_save(self, args, state, control, **kw):
            atomic_write_json(path, history_rows(state.log_history), indent=2, sort_keys=True)

    return WriteHistory()


def history_rows(log_history):
    """The trainer's log as the LLM path's ``history.json`` rows (training rows: step, loss, lr, epoch)."""
    rows = []
    for h in log_history:
        if "eval_acc" in h:
            rows.append({"step": h["step"], **{k: h[k] for k in
                         ("eval_loss", "eval_acc", "eval_chance", "eval_teacher_acc", "eval_pairs") if k in h}})
        elif "loss" in h:
            rows.append({"step": h["step"], "epoch": h.get("epoch"), "lr": h.get("learning_rate"),
                         "loss": h["loss"]})
    return rows


def _training_args(s, out, show_progress):
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.training_args import BatchSamplers

    cuda = torch.cuda.is_available()
    mp = s.mixed_precision
    if mp == "auto":
        mp = "bf16" if cuda and torch.cuda.is_bf16_supported() else "no"
    return SentenceTransformerTrainingArguments(
        output_dir=os.path.join(out, "checkpoints"), per_device_train_batch_size=s.batch_size,
        gradient_accumulation_steps=s.grad_accum, num_train_epochs=s.epochs, max_steps=s.max_steps or -1,
        learning_rate=s.lr, weight_decay=s.weight_decay, max_grad_norm=s.max_grad_norm,
        lr_scheduler_type="constant_with_warmup" if s.scheduler == "constant" else s.scheduler,
        warmup_steps=s.warmup_ratio, logging_steps=s.log_steps,
        eval_strategy="steps" if s.eval_steps else "no", eval_steps=s.eval_steps or None,
        save_strategy="steps" if s.save_steps else "no", save_steps=s.save_steps or None,
        save_total_limit=s.keep_checkpoints, seed=s.seed, data_seed=s.seed, dataloader_drop_last=True,
        batch_sampler=BatchSamplers.NO_DUPLICATES, use_cpu=not cuda, bf16=mp == "bf16", fp16=mp == "fp16",
        report_to="none", disable_tqdm=not show_progress,
    )


def finetune_encoder(config, ctx):
    """Fine-tune (or resume) the encoder on the teacher's labels; returns a summary like the LLM path's."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from transformers.trainer_utils import get_last_checkpoint

    logger = logging.getLogger()
    s = SCFTSettings.from_config(config)
    out = run_dir(config)
    os.makedirs(os.path.join(out, "checkpoints"), exist_ok=True)
    teacher = teacher_data(config, ctx.dataset, os.path.join(out, "teacher.npz"))
    texts = run_texts(config, ctx, os.path.join(out, "texts.json"))
    train, held_out = encoder_pairs(teacher, texts, s.encoder_label, s.max_pairs, s.eval_pairs, s.seed,
                                   s.encoder_candidates)

    fp, settings = fingerprint(config, teacher.info, 1)
    run_file = os.path.join(out, RUN_FILE)
    if os.path.isfile(run_file):
        with open(run_file, encoding="utf-8") as f:
            old = json.load(f)
        if old.get("fingerprint") != fp:
            before = old.get("settings", {})
            diff = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
            raise ResumeError(f"{run_file}: made with other settings ({', '.join(diff)}); use another "
                              f"--scft_run, or remove {out} to start over")
    else:
        atomic_write_json(run_file, {"fingerprint": fp, "settings": settings}, indent=2, sort_keys=True)

    final = os.path.join(out, FINAL_DIR)
    summary_path = os.path.join(out, "summary.json")
    if os.path.isfile(os.path.join(final, "modules.json")):
        return dict(finished_summary(config), new_steps=0)  # a finished run is not trained again

    torch.manual_seed(s.seed)
    model = SentenceTransformer(encoder_path(s.base_model), device="cuda" if torch.cuda.is_available() else "cpu")
    evaluator = RetrievalEvaluator(held_out, s.eval_batch, s.tau, query_vectors(teacher, s.encoder_label),
                                   teacher.item_emb, s.seed + 10_000) if len(held_out) else None
    args = _training_args(s, out, config["show_progress"])
    resume = get_last_checkpoint(args.output_dir)
    args.eval_on_start = evaluator is not None and resume is None
    if evaluator is None:
        args.eval_strategy = "no"
    dataset = Dataset.from_dict({"anchor": train.anchors, "positive": train.positives})
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=dataset, evaluator=evaluator,
        loss=MultipleNegativesRankingLoss(model, scale=1.0 / s.tau),
        callbacks=[_history_on_save(os.path.join(out, "history.json"))]
        + ([_stop_after(s.stop_after_steps)] if s.stop_after_steps else []))
    if resume:
        logger.info(f"SCFT encoder: resuming {out} from {resume}")
    logger.info(f"SCFT encoder {s.base_model} ({s.encoder_label} labels): {len(train)} training pairs, "
                f"{len(held_out)} held out, teacher {teacher.info['model']} (labels: {teacher.info['labels']})")
    trainer.train(resume_from_checkpoint=resume)
    state = trainer.state
    finished = state.global_step >= state.max_steps
    if finished and evaluator is not None and not any(
            h.get("step") == state.global_step and "eval_acc" in h for h in state.log_history):
        trainer.evaluate()  # the end of training is always evaluated
    history = history_rows(state.log_history)
    atomic_write_json(os.path.join(out, "history.json"), history, indent=2, sort_keys=True)
    summary = {"run_dir": out, "step": state.global_step, "total_steps": state.max_steps,
               "new_steps": state.global_step - (int(resume.rsplit("-", 1)[-1]) if resume else 0),
               "train_pairs": len(train), "eval_pairs": len(held_out), "labels": s.encoder_label,
               "teacher": teacher.info, "texts": texts.counts, "finished": finished}
    if finished:
        model.save(final)
        summary["model_dir"] = final
        summary["text_embedder"] = f"st:{os.path.abspath(final)}"
        logger.info(f"SCFT encoder: finished {state.global_step} steps; sentence-transformers model in {final}")
    else:
        logger.info(f"SCFT encoder: stopped at step {state.global_step} of {state.max_steps}; "
                    f"run the same command again to continue")
    atomic_write_json(summary_path, summary, indent=2, sort_keys=True)
    return summary


def finished_summary(config):
    """The summary of this run's finished fine-tuning; an error naming the folder when there is none."""
    out = run_dir(config)
    path = os.path.join(out, "summary.json")
    if not os.path.isfile(os.path.join(out, FINAL_DIR, "modules.json")) or not os.path.isfile(path):
        raise FileNotFoundError(f"{os.path.join(out, FINAL_DIR)}: no fine-tuned encoder yet; run "
                                f"`python -m recbole_hnlm.llm.scft finetune` with the same settings first")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def export_command(config, summary):
    """The command that trains a ``*_HNLM`` model on built-in features embedded by the fine-tuned encoder."""
    return (f"python run_recbole_hnlm.py --model=LightGCN_HNLM --dataset={config['dataset']} "
            f"--hnlm_text_embedder={summary['text_embedder']}")


def ceiling(teacher, texts, rule, batch_size, eval_pairs, seed, candidates):
    """The teacher's own held-out in-batch accuracy for ``rule``: what the evaluator logs as eval_teacher_acc."""
    _, held_out = encoder_pairs(teacher, texts, rule, None, eval_pairs, seed, candidates)
    return RetrievalEvaluator(held_out, batch_size, 1.0, query_vectors(teacher, rule), teacher.item_emb,
                              seed + 10_000).teacher_acc

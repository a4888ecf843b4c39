"""The SCFT training loop (Eq. 12): InfoNCE between query and label embeddings, in-batch negatives.

One optimizer step = ``scft_grad_accum`` micro-batches of ``scft_batch_size`` pairs per process; the
loss of a micro-batch is :func:`recbole_hnlm.model.layers.info_nce_in_batch` (cosine / ``scft_tau``,
row i's label is query i's positive, the other labels of the micro-batch its negatives), batches hold
no label twice (:func:`~recbole_hnlm.llm.scft.data.distinct_label_batches`). AdamW on the adapters and
the MLP, warmup then cosine or linear decay, gradient clipping.

Runs under ``accelerate launch`` unchanged (DDP: each process takes every n-th micro-batch; in-batch
negatives stay per process). Checkpoints of the trainable weights, optimizer, scheduler, RNG and step
every ``scft_save_steps`` steps; a rerun resumes from the newest one and never repeats a finished
step: the batch order of each epoch is a function of the seed and the epoch, so the batches already
consumed are skipped exactly. Retrieval accuracy (does a query rank its own label first among the
labels of its batch) is measured on held-out pairs at step 0, every ``scft_eval_steps``, and at the end.
"""
import contextlib
import glob
import hashlib
import json
import logging
import math
import os
import re
import time

import torch
from tqdm import tqdm

from recbole_hnlm.checkpoint import load_file
from recbole_hnlm.files import atomic_write_json
from recbole_hnlm.llm.scft.data import (
    PROMPT_VERSION,
    Collate,
    PromptBuilder,
    QuerySet,
    distinct_label_batches,
    split_pairs,
)
from recbole_hnlm.llm.scft.model import base_model_id, build_scft_model, load_tokenizer, save_scft
from recbole_hnlm.llm.scft.settings import SCFTSettings
from recbole_hnlm.llm.scft.teacher import TeacherData, teacher_data
from recbole_hnlm.llm.scft.texts import load_texts, run_texts
from recbole_hnlm.model.layers import info_nce_in_batch

# settings that change what is trained: a checkpoint made with other values cannot be resumed
FINGERPRINT_KEYS = (
    "scft_base_model", "scft_chat_template", "scft_instruction", "scft_prompt_version", "scft_soft_tokens",
    "scft_mlp_hidden", "scft_cf_normalize", "scft_profile_tokens", "scft_label_tokens", "scft_lora_r",
    "scft_lora_alpha", "scft_lora_dropout", "scft_lora_targets", "scft_tau", "scft_batch_size", "scft_grad_accum",
    "scft_epochs", "scft_max_steps", "scft_max_pairs", "scft_eval_pairs", "scft_lr", "scft_weight_decay",
    "scft_scheduler", "scft_warmup_ratio", "scft_max_grad_norm", "scft_seed", "scft_label_source", "scft_dns_m",
    "scft_mlp_lr", "scft_soft_scale", "scft_encoder_label", "scft_encoder_candidates",
)
CKPT_RE = re.compile(r"step-(\d+)\.pt$")


class ResumeError(RuntimeError):
    """A checkpoint that belongs to a run with other settings; the message names the file."""


def run_dir(config):
    """``scft_dir``, or (None) ``<data_path>/scft/<scft_run>``."""
    s = SCFTSettings.from_config(config)
    return s.dir if s.dir is not None else os.path.join(config["data_path"], "scft", s.run)


def make_accelerator(config):
    from accelerate import Accelerator

    mp = SCFTSettings.from_config(config).mixed_precision
    if mp == "auto":
        mp = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    return Accelerator(mixed_precision=mp, cpu=not torch.cuda.is_available())


def _setting(config, key):
    value = config[key]
    return list(value) if isinstance(value, (list, tuple)) else value


def fingerprint(config, teacher_info, num_processes):
    settings = {k: _setting(config, k) for k in FINGERPRINT_KEYS}
    settings["scft_base_model"] = base_model_id(config["scft_base_model"])
    settings["teacher"] = teacher_info.get("checkpoint_id")
    settings["num_processes"] = int(num_processes)
    blob = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16], settings


def checkpoints(directory):
    """``[(step, path)]`` of the checkpoints in ``directory/checkpoints``, oldest first."""
    found = []
    for path in glob.glob(os.path.join(directory, "checkpoints", "step-*.pt")):
        m = CKPT_RE.search(path)
        if m:
            found.append((int(m.group(1)), path))
    return sorted(found)


class Schedule:
    """Which micro-batches each step of each epoch consumes (deterministic in seed and epoch)."""

    def __init__(self, labels, batch_size, accum, num_processes, epochs, seed, max_steps=None):
        self.group = accum * num_processes
        self.epochs = []
        dropped = 0
        for epoch in range(int(epochs)):
            batches = distinct_label_batches(labels, batch_size, seed + epoch)
            steps = len(batches) // self.group
            dropped += len(batches) - steps * self.group
            self.epochs.append((batches[: steps * self.group], steps))
        self.total = sum(s for _, s in self.epochs)
        if max_steps:
            self.total = min(self.total, int(max_steps))
        self.dropped_batches = dropped

    def remaining(self, step):
        """``(epoch, micro-batches left in it)`` for each epoch not finished at global ``step``."""
        start = 0
        for epoch, (batches, steps) in enumerate(self.epochs):
            end = start + steps
            if step < end and start < self.total:
                done = step - start
                yield epoch, batches[done * self.group:], start
            start = end


def _inputs(batch, device):
    keys = ("input_ids", "attention_mask", "soft_positions", "cf", "label_ids", "label_mask")
    return {k: batch[k].to(device) for k in keys if k in batch}


def in_batch_accuracy(query, label):
    """Share of queries whose own label (same row) scores highest among the batch's labels (cosine)."""
    sims = torch.nn.functional.normalize(query, dim=-1) @ torch.nn.functional.normalize(label, dim=-1).T
    return (sims.argmax(dim=1) == torch.arange(len(query), device=query.device)).float().mean()


def teacher_accuracy(user_emb, item_emb, users, labels):
    """:func:`in_batch_accuracy` with the teacher's own vectors: e_u as the query, e_label as the label.

    A reference for the LLM's: how far the teacher's labels can be told apart from CF alone.
    """
    return float(in_batch_accuracy(user_emb[torch.as_tensor(users)], item_emb[torch.as_tensor(labels)]))


@torch.no_grad()
def evaluate(model, dataset, batches, collate, device, tau, autocast=contextlib.nullcontext):
    """Mean InfoNCE loss and retrieval accuracy on held-out pairs; ``chance`` is 1 / batch size on average,
    ``teacher_acc`` the accuracy of the teacher's own embeddings on the same batches (:func:`teacher_accuracy`)."""
    if not batches:
        return {}
    was = model.training
    model.eval()
    losses, hits, n, chance, teacher = [], 0.0, 0, 0.0, 0.0
    try:
        for b in batches:
            batch = collate([dataset[i] for i in b])
            with autocast():
                q, lab = model(**_inputs(batch, device))
            losses.append(float(info_nce_in_batch(q, lab, tau)) * len(b))
            hits += float(in_batch_accuracy(q, lab)) * len(b)
            rows = dataset.rows[list(b)]
            teacher += teacher_accuracy(dataset.user_emb, dataset.item_emb, dataset.teacher.pair_users[rows],
                                        dataset.teacher.pair_negs[rows]) * len(b)
            n += len(b)
            chance += 1.0
    finally:
        model.train(was)
    return {"eval_loss": sum(losses) / n, "eval_acc": hits / n, "eval_chance": chance / n,
            "eval_teacher_acc": teacher / n, "eval_pairs": n}


def finetune(config, ctx, accelerator=None, on_step=None):
    """Fine-tune (or resume fine-tuning) on the training pairs of ``ctx`` (a DatasetContext); returns a summary.

    ``on_step(step, rows)`` is called after each optimizer step with the teacher rows it trained on.
    """
    logger = logging.getLogger()
    s = SCFTSettings.from_config(config)
    acc = accelerator or make_accelerator(config)
    if s.threads:
        torch.set_num_threads(s.threads)
    out = run_dir(config)
    os.makedirs(os.path.join(out, "checkpoints"), exist_ok=True)
    teacher_path = os.path.join(out, "teacher.npz")
    texts_path = os.path.join(out, "texts.json")
    if acc.is_main_process:
        teacher_data(config, ctx.dataset, teacher_path)
        run_texts(config, ctx, texts_path)
    acc.wait_for_everyone()
    teacher = TeacherData.load(teacher_path)
    texts = load_texts(texts_path)
    seed = s.seed
    fp, settings = fingerprint(config, teacher.info, acc.num_processes)
    final_meta = os.path.join(out, "final", "scft.json")
    summary_path = os.path.join(out, "summary.json")
    if os.path.isfile(final_meta) and os.path.isfile(summary_path):
        with open(final_meta, encoding="utf-8") as f:
            if json.load(f).get("fingerprint") == fp:
                logger.info(f"SCFT: {os.path.dirname(final_meta)} is already trained with these settings; nothing to do")
                with open(summary_path, encoding="utf-8") as g:
                    return dict(json.load(g), new_steps=0)

    tok = load_tokenizer(s.base_model)
    builder = PromptBuilder(tok, s.instruction, s.soft_tokens, s.profile_tokens, s.label_tokens, s.chat_template)
    train_rows, eval_rows = split_pairs(teacher, s.max_pairs, s.eval_pairs, seed)
    normalize = s.cf_normalize
    train_set = QuerySet(builder, teacher, texts, train_rows, cf_normalize=normalize)
    eval_set = QuerySet(builder, teacher, texts, eval_rows, cf_normalize=normalize) if len(eval_rows) else None
    collate = Collate(builder.pad)
    bs, accum = s.batch_size, s.grad_accum  # bs >= 2 (scft.yaml): Eq. 12's negatives are the batch's other labels
    eval_bs = s.eval_batch
    eval_batches = []
    if eval_set is not None:
        eval_batches = distinct_label_batches(eval_set.label_items(), eval_bs, seed + 10_000,
                                              drop_last=len(eval_set) >= eval_bs)
    schedule = Schedule(train_set.label_items(), bs, accum, acc.num_processes, s.epochs, seed, s.max_steps)
    if schedule.total == 0:
        raise ValueError(f"{len(train_set)} training pairs make no full step of {bs} x {accum} x "
                         f"{acc.num_processes} pairs; lower scft_batch_size or scft_grad_accum")

    model = build_scft_model(config, teacher.cf_dim, acc.local_process_index)
    params = [p for p in model.parameters() if p.requires_grad]
    lr = s.lr
    mlp_params = list(model.cf_mlp.parameters())
    mlp_ids = {id(p) for p in mlp_params}
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in params if id(p) not in mlp_ids]},
         {"params": mlp_params, "lr": s.mlp_learning_rate}],
        lr=lr, weight_decay=s.weight_decay)
    from transformers import get_scheduler

    kind = s.scheduler
    warmup = int(math.ceil(s.warmup_ratio * schedule.total))
    scheduler = get_scheduler("constant_with_warmup" if kind == "constant" else kind, optimizer,
                              num_warmup_steps=warmup, num_training_steps=schedule.total)
    model, optimizer = acc.prepare(model, optimizer)  # the scheduler is stepped once per step by hand
    core = acc.unwrap_model(model)
    device = acc.device

    step, history, seconds = 0, [], 0.0
    found = checkpoints(out)
    if found:
        last_step, path = found[-1]
        state = load_file(path, trust=bool(config["trust_checkpoint"]))
        if state.get("fingerprint") != fp:
            old = state.get("settings", {})
            diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            raise ResumeError(f"{path}: made with other settings ({', '.join(diff)}); use another "
                              f"--scft_run, or remove {out} to start over")
        core.load_trainable_state(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["cpu"])
        if torch.cuda.is_available() and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        step, history, seconds = int(state["step"]), list(state["history"]), float(state["seconds"])
        logger.info(f"SCFT: resuming {out} at step {step} of {schedule.total} ({path})")
    else:
        torch.manual_seed(seed + acc.process_index)

    logger.info(
        f"SCFT: {len(train_set)} training pairs, {len(eval_rows)} held out, {schedule.total} steps of "
        f"{bs} x {accum} x {acc.num_processes} pairs, {sum(p.numel() for p in params) / 1e6:.2f}M trainable "
        f"parameters, teacher {teacher.info['model']} (labels: {teacher.info['labels']}), on {device}"
    )

    def save_checkpoint():
        if not acc.is_main_process:
            return
        path = os.path.join(out, "checkpoints", f"step-{step:06d}.pt")
        rng = {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
        state = {"step": step, "fingerprint": fp, "settings": settings, "model": core.trainable_state(),
                 "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng,
                 "history": history, "seconds": elapsed()}
        torch.save(state, path + ".tmp")
        os.replace(path + ".tmp", path)
        for _, old in checkpoints(out)[: -s.keep_checkpoints]:
            os.remove(old)
        atomic_write_json(os.path.join(out, "history.json"), history, indent=2, sort_keys=True)

    def run_eval():
        if acc.is_main_process and eval_batches:
            row = {"step": step, **evaluate(core, eval_set, eval_batches, collate, device, s.tau, acc.autocast)}
            history.append(row)
            logger.info(f"SCFT eval at step {step}: loss {row['eval_loss']:.4f}, retrieval accuracy "
                        f"{row['eval_acc']:.3f} (chance {row['eval_chance']:.3f}, the teacher's own embeddings "
                        f"{row['eval_teacher_acc']:.3f}, {row['eval_pairs']} pairs)")
        acc.wait_for_everyone()

    tau = s.tau
    log_steps = s.log_steps
    eval_steps, save_steps = s.eval_steps, s.save_steps
    max_norm = s.max_grad_norm
    stop_after = s.stop_after_steps
    if step == 0 and not any("eval_acc" in h for h in history):
        run_eval()
    new_steps, stopped = 0, False
    bar = tqdm(total=schedule.total, initial=step, desc="SCFT", dynamic_ncols=True,
               disable=not (config["show_progress"] and acc.is_main_process))
    model.train()
    t_start = time.perf_counter()

    def elapsed():  # training wall time over every invocation of this run
        return round(seconds + time.perf_counter() - t_start, 2)

    for epoch, batches, _ in list(schedule.remaining(step)):
        if step >= schedule.total or stopped:
            break
        mine = batches[acc.process_index::acc.num_processes]
        losses, accs, rows = [], [], []
        for k, b in enumerate(mine):
            batch = collate([train_set[i] for i in b])
            last_micro = (k + 1) % accum == 0
            sync = contextlib.nullcontext() if last_micro else acc.no_sync(model)
            with sync, acc.autocast():
                q, lab = model(**_inputs(batch, device))
                loss = info_nce_in_batch(q, lab, tau)
                acc.backward(loss / accum)
            losses.append(loss.detach())
            accs.append(in_batch_accuracy(q.detach(), lab.detach()))
            rows.append(batch["rows"])
            if not last_micro:
                continue
            if max_norm:
                acc.clip_grad_norm_(params, max_norm)
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            new_steps += 1
            mean_loss = float(acc.reduce(torch.stack(losses).mean().to(device), reduction="mean"))
            mean_acc = float(acc.reduce(torch.stack(accs).mean().to(device), reduction="mean"))
            if step % log_steps == 0 or step == schedule.total:
                history.append({"step": step, "epoch": epoch, "lr": lr, "loss": mean_loss, "acc": mean_acc,
                                "seconds": elapsed()})
            bar.update(1)
            bar.set_postfix(loss=f"{mean_loss:.3f}", acc=f"{mean_acc:.2f}")
            if on_step is not None:
                on_step(step, torch.cat(rows).tolist())
            losses, accs, rows = [], [], []
            done = step >= schedule.total
            stopped = stop_after is not None and new_steps >= stop_after and not done
            if (eval_steps and step % eval_steps == 0) or done:
                run_eval()
            if (save_steps and step % save_steps == 0) or done or stopped:
                save_checkpoint()
                acc.wait_for_everyone()
            if done or stopped:
                break
    bar.close()
    seconds = elapsed()
    summary = {"run_dir": out, "step": step, "total_steps": schedule.total, "new_steps": new_steps,
               "train_pairs": len(train_set), "eval_pairs": len(eval_rows), "train_seconds": round(seconds, 1),
               "teacher": teacher.info, "texts": texts.counts, "finished": step >= schedule.total}
    if step >= schedule.total:
        if acc.is_main_process:
            meta = {"base_model": base_model_id(s.base_model), "prompt_version": PROMPT_VERSION,
                    "instruction": s.instruction, "chat_template": s.chat_template,
                    "profile_tokens": s.profile_tokens, "label_tokens": s.label_tokens, "cf_normalize": normalize,
                    "tau": tau, "steps": step, "trained_on": config["dataset"], "teacher": teacher.info,
                    "fingerprint": fp}
            save_scft(core, os.path.join(out, "final"), meta)
            atomic_write_json(os.path.join(out, "history.json"), history, indent=2, sort_keys=True)
            logger.info(f"SCFT: finished {step} steps in {seconds:.0f}s; model in {os.path.join(out, 'final')}")
        summary["model_dir"] = os.path.join(out, "final")
    else:
        logger.info(f"SCFT: stopped at step {step} of {schedule.total}; run the same command again to continue")
    if acc.is_main_process:
        atomic_write_json(os.path.join(out, "summary.json"), summary, indent=2, sort_keys=True)
    acc.wait_for_everyone()
    return summary


def eval_table(history):
    """Rows of the training curve: step, training loss / accuracy, held-out loss / accuracy."""
    by_step = {}
    for h in history:
        by_step.setdefault(h["step"], {}).update(h)
    return [by_step[s] for s in sorted(by_step)]


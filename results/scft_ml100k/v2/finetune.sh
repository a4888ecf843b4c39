#!/bin/sh
# SCFT v2 (this session): SmolLM2-135M-Instruct + LoRA on CPU, ml-100k, teacher LightGCN_MixGCF (train_seed 1),
# labels: the teacher's DNS choice (top-scoring of 64 uniform candidates, see teacher_ceiling.log);
# 768 training pairs (96 steps of 8), 128 held out; LoRA lr 1e-4, MLP lr 1e-3, tau 0.1.
# Earlier tries kept as logs: MixGCF labels (finetune_mixgcf_labels_stopped.log), LoRA lr 1e-3 + MLP 5e-3 +
# tau 0.05 (finetune_dns_lr1e-3_collapsed.log: held-out loss ln 8 at step 32), LoRA 1e-4 + MLP 5e-3 + tau 0.1
# (finetune_dns_tau01_mlp5e-3_stopped.log: training loss falling to ln 8 by step 16).
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m recbole_hnlm.llm.scft finetune --dataset=ml-100k \
  --scft_teacher=saved/scft/LightGCN_MixGCF-Dec-02-2026_15-14-59.pth --scft_run=smollm2-cpu-v2 \
  --scft_label_source=dns --scft_dns_m=64 --scft_threads=1 \
  --scft_max_pairs=768 --scft_eval_pairs=128 --scft_batch_size=8 --scft_grad_accum=1 \
  --scft_eval_steps=32 --scft_save_steps=16 --scft_profile_tokens=24 --scft_label_tokens=24 \
  --scft_lr=1e-4 --scft_mlp_lr=1e-3 --scft_tau=0.1 --scft_warmup_ratio=0.05 --show_progress=False "$@"

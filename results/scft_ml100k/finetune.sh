#!/bin/sh
# SCFT with SmolLM2-135M-Instruct on CPU, ml-100k, a subset of pairs, one thread (see docs/scft.md).
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m recbole_hnlm.llm.scft finetune --dataset=ml-100k \
  --scft_teacher=saved/scft/LightGCN_MixGCF-Nov-22-2026_03-01-49.pth --scft_run=smollm2-cpu --scft_threads=1 \
  --scft_max_pairs=320 --scft_eval_pairs=32 --scft_batch_size=8 --scft_grad_accum=1 \
  --scft_eval_steps=10 --scft_save_steps=5 --scft_profile_tokens=24 --scft_label_tokens=24 \
  --scft_lr=5e-4 --scft_mlp_lr=2e-3 --scft_warmup_ratio=0.05 --show_progress=False "$@"

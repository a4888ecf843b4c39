#!/bin/sh
# Export of the fine-tuned SmolLM2 per user (CPU default) + every item's label-side embedding (anchor set).
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m recbole_hnlm.llm.scft export --dataset=ml-100k \
  --scft_teacher=saved/scft/LightGCN_MixGCF-Nov-22-2026_03-01-49.pth --scft_run=smollm2-cpu --scft_threads=1 \
  --scft_granularity=user --scft_export_batch_size=16 --show_progress=False "$@"

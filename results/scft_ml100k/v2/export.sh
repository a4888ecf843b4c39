#!/bin/sh
# Export of the v2 SCFT model on ml-100k: per-user negatives (CPU default) + every item's label-side embedding.
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m recbole_hnlm.llm.scft export --dataset=ml-100k \
  --scft_teacher=saved/scft/LightGCN_MixGCF-Dec-02-2026_15-14-59.pth --scft_run=smollm2-cpu-v2 \
  --scft_label_source=dns --scft_dns_m=64 --scft_threads=1 \
  --scft_granularity=user --scft_export_batch_size=16 --show_progress=False "$@"

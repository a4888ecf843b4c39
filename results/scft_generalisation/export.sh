#!/bin/sh
# Table 4 (paper P1): the SCFT model fine-tuned on ml-100k (results/scft_ml100k/v2), not fine-tuned again,
# exports for amazon-scientific per item, with a LightGCN_MixGCF teacher trained on amazon-scientific
# (teacher_mixgcf_scientific.log: run_recbole_hnlm.py --model=LightGCN_MixGCF --dataset=amazon-scientific
#  --epochs=100 --stopping_step=10 --learning_rate=0.005 --train_seed=1 --checkpoint_dir=saved/scft).
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m recbole_hnlm.llm.scft export --dataset=amazon-scientific \
  --scft_model=atomic_data/ml-100k/scft/smollm2-cpu-v2/final \
  --scft_teacher=saved/scft/LightGCN_MixGCF-Dec-02-2026_15-16-52.pth --scft_run=from-ml100k \
  --scft_label_source=dns --scft_dns_m=64 --scft_threads=1 --scft_granularity=item \
  --scft_feature=scft-ml100k-item --scft_export_batch_size=16 --show_progress=False "$@"

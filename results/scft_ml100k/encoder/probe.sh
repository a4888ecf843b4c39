#!/bin/sh
# Probe of SCFT on all-MiniLM-L6-v2 (ml-100k, CPU, one thread, a shared 2-core machine): both label rules,
# 60 steps of 8 pairs, 256 held-out pairs in batches of 8 (chance 0.125). Teacher: LightGCN_MixGCF, 40 epochs
# (early stop), lr 5e-3, embedding 64. TEACHER=<its .pth> DATA=<data_path holding ml-100k> sh probe.sh
for LABEL in item pair; do
  OMP_NUM_THREADS=1 python -m recbole_hnlm.llm.scft all --dataset=ml-100k --data_path="$DATA" \
    --scft_teacher="$TEACHER" --scft_run="minilm-$LABEL-probe" --scft_base_model=minilm --scft_encoder_label=$LABEL \
    --scft_label_source=dns --scft_dns_m=64 --scft_batch_size=8 --scft_grad_accum=1 --scft_max_steps=60 \
    --scft_eval_pairs=256 --scft_eval_steps=30 --scft_save_steps=30 --scft_lr=2e-5 --scft_tau=0.05 \
    --scft_threads=1 --show_progress=False
  python -m recbole_hnlm.llm.scft.report "$DATA/ml-100k/scft/minilm-$LABEL-probe" --every 30
done

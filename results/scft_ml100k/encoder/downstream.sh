#!/bin/sh
# LightGCN_HNLM on built-in features embedded by the SCFT-fine-tuned MiniLM (curve.sh's run) against the
# attribution grid's LightGCN_HNLM on base MiniLM: same split, budget and train seeds as that grid's cells
# (learning rate 5e-3, 100 epochs cap, patience 10, align_norm_floor 0 as those cells ran).
#   ENCODER=/tmp/scft-curve/data/ml-100k/scft/minilm-pair-curve/final DATA=<data_path holding ml-100k> sh downstream.sh
set -eu
for SEED in ${SEEDS:-1 2 3}; do
  OMP_NUM_THREADS=1 python run_recbole_hnlm.py --model=LightGCN_HNLM --dataset=ml-100k --data_path="$DATA" \
    --hnlm_text_embedder="st:$ENCODER" --train_seed=$SEED --epochs=100 --stopping_step=10 --learning_rate=0.005 \
    --align_norm_floor=0.0 --show_progress=False 2>&1 | grep -E "best valid|test result" | sed "s/^/seed $SEED: /"
done

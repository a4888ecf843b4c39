#!/bin/sh
# Learning curve of SCFT on all-MiniLM-L6-v2 (the paper's pair labels: each training pair's DNS hard negative
# under the CF teacher), one torch thread. Teacher: LightGCN_MixGCF, lr 5e-3, 64-d, early stop (40 epochs cap).
#   DATASET=ml-100k STEPS=800 OUT=/tmp/scft-curve sh results/scft_ml100k/encoder/curve.sh
# LABEL=item uses item labels (CANDIDATES CF-nearest items searched); LR, EVAL_PAIRS and EVAL_EVERY set the rest.
set -eu
DATASET=${DATASET:-ml-100k}; STEPS=${STEPS:-800}; OUT=${OUT:-/tmp/scft-curve}; LABEL=${LABEL:-pair}
RUN=${RUN:-minilm-$LABEL-curve}; LR=${LR:-5e-5}; CANDIDATES=${CANDIDATES:-50}; EVAL_PAIRS=${EVAL_PAIRS:-512}; EVAL_EVERY=${EVAL_EVERY:-100}
mkdir -p "$OUT/data" "$OUT/saved"
[ -d "$OUT/data/$DATASET" ] || cp -r "atomic_data/$DATASET" "$OUT/data/$DATASET"
export OMP_NUM_THREADS=1
COMMON="--dataset=$DATASET --data_path=$OUT/data --checkpoint_dir=$OUT/saved --show_progress=False"
if ! ls "$OUT"/saved/LightGCN_MixGCF-*.pth > /dev/null 2>&1; then
  python run_recbole_hnlm.py --model=LightGCN_MixGCF $COMMON --embedding_size=64 --epochs=40 --stopping_step=10 \
    --learning_rate=0.005 > "$OUT/teacher.log" 2>&1
fi
TEACHER=$(ls -t "$OUT"/saved/LightGCN_MixGCF-*.pth | head -1)
start=$(date +%s)
python -m recbole_hnlm.llm.scft finetune $COMMON --scft_teacher="$TEACHER" --scft_run="$RUN" \
  --scft_base_model=minilm --scft_encoder_label="$LABEL" --scft_label_source=dns --scft_dns_m=64 \
  --scft_encoder_candidates="$CANDIDATES" --scft_batch_size=16 --scft_grad_accum=1 --scft_max_steps="$STEPS" \
  --scft_eval_pairs="$EVAL_PAIRS" --scft_eval_batch_size=8 --scft_eval_steps="$EVAL_EVERY" --scft_save_steps="$EVAL_EVERY" \
  --scft_lr="$LR" --scft_tau=0.05 --scft_threads=1 > "$OUT/finetune-$RUN.log" 2>&1
echo "finetune seconds: $(( $(date +%s) - start ))"
python -m recbole_hnlm.llm.scft.report "$OUT/data/$DATASET/scft/$RUN" --every "$EVAL_EVERY" --plot "$OUT/curve-$RUN.png"

#!/usr/bin/env bash
# The learning-rate probe of the semantic-negatives issue: LightGCN_HNLM at the package's own defaults
# (learning rate 1e-3) on one dataset, EPOCHS epochs with patience off, one seed, per candidate fix.
# Writes one RecBole log per run into OUT, then prints validation NDCG@20 per epoch and the BPR part:
#   bash benchmarks/probes/lr_default.sh amazon-scientific 15 results/lr-probe/default-lr
set -euo pipefail
ds=${1:-amazon-scientific}; epochs=${2:-15}; out=${3:-results/lr-probe/default-lr}
mkdir -p "$out"
export OMP_NUM_THREADS=1
common=(--dataset="$ds" --epochs="$epochs" --stopping_step=100 --show_progress=False)
run() {
  local name=$1; shift
  [ -s "$out/$ds-$name.log" ] || python run_recbole_hnlm.py "${common[@]}" "$@" > "$out/$ds-$name.log" 2>&1
}
run lightgcn --model=LightGCN
run hnlm --model=LightGCN_HNLM
run hnlm-floor1 --model=LightGCN_HNLM --align_norm_floor=1.0
python benchmarks/probes/epoch_table.py "$out"/"$ds"-*.log

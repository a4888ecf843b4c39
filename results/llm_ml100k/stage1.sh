#!/bin/sh
# Stage 1 (w/o SCFT) on ml-100k with the local SmolLM2-135M-Instruct on CPU: the 200 most interacted
# items get profiles and LLM negatives, the rest the retrieval fallback. Generation settings are the
# defaults (greedy, no repetition penalty) for every stage: they are part of each answer's cache key.
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
S="--dataset=ml-100k --llm_num_threads=2 --llm_batch_size=16 --llm_max_items=200 --llm_subset=popular --show_progress=False"
python -m recbole_hnlm.llm item_profiles $S "$@" &&
python -m recbole_hnlm.llm negatives $S "$@" &&
python -m recbole_hnlm.llm export $S "$@"

#!/bin/sh
# Throughput of the stages stage1.sh does not run (user profiles, pair-granularity negatives), on 16
# users / 16 training pairs, with the item profiles stage1.sh stored. SmolLM2-135M-Instruct, CPU, one thread.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
S="--dataset=ml-100k --llm_num_threads=1 --llm_batch_size=16 --llm_max_items=200 --llm_subset=popular --show_progress=False"
python -m recbole_hnlm.llm user_profiles $S --llm_max_users=16 "$@" &&
python -m recbole_hnlm.llm negatives $S --llm_max_users=16 --llm_granularity=pair --llm_max_pairs=16 "$@"

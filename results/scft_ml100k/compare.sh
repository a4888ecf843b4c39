#!/bin/sh
# LightGCN vs LightGCN_HNLM (built-in retrieval negatives) vs LightGCN_HNLM (SCFT negatives), identical settings.
COMMON="--dataset=ml-100k --epochs=60 --eval_step=5 --stopping_step=3 --learning_rate=0.005 --show_progress=False --checkpoint_dir=saved/scft"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
python run_recbole_hnlm.py --model=LightGCN $COMMON > results/scft_ml100k/cmp_lightgcn.log 2>&1
python run_recbole_hnlm.py --model=LightGCN_HNLM --hnlm_feature=retrieval $COMMON > results/scft_ml100k/cmp_hnlm_retrieval.log 2>&1
python run_recbole_hnlm.py --model=LightGCN_HNLM --hnlm_feature=scft-user --hnlm_anchor_feature=scft-user-items $COMMON > results/scft_ml100k/cmp_hnlm_scft.log 2>&1

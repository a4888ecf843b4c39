"""Train and evaluate a recbole-hnlm (or RecBole) model, with run_recbole.py's command line.

    python run_recbole_hnlm.py --model=LightGCN_HNLM [--dataset=ml-100k] [--config_files="a.yaml b.yaml"] [--epochs=50 ...]
"""
from recbole_hnlm.quick_start import main

if __name__ == "__main__":
    main()

"""``python -m recbole_hnlm.llm <stage|all> --dataset <ds> [--config_files ...] [--key=value ...]``."""
from recbole_hnlm.llm.cli import entry_point

if __name__ == "__main__":
    entry_point()

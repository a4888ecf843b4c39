"""The training curve of an SCFT run as a table (and a PNG when matplotlib is there).

    python -m recbole_hnlm.llm.scft.report <run folder> [--every 5] [--plot results/scft.png]
"""
import argparse
import json
import os
import sys


def load_history(run_folder):
    path = os.path.join(run_folder, "history.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing (the run has not reached a checkpoint yet)")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _mean(values):
    values = list(values)
    return None if None in values else sum(values) / len(values)  # the encoder path logs no training accuracy


def curve_rows(history, every=5):
    """One row per evaluation and per ``every`` steps: training loss / accuracy averaged since the last row."""
    rows, window = [], []
    evals = {h["step"]: h for h in history if "eval_acc" in h}
    for h in history:
        if "loss" not in h:
            continue
        window.append(h)
        if h["step"] % every == 0 or h["step"] in evals:
            rows.append({"step": h["step"], "loss": sum(w["loss"] for w in window) / len(window),
                         "acc": _mean(w.get("acc") for w in window), "lr": h["lr"],
                         "seconds": h.get("seconds"), **{k: v for k, v in evals.get(h["step"], {}).items() if k != "step"}})
            window = []
    if 0 in evals:
        rows.insert(0, dict(evals[0], loss=None, acc=None, lr=None, seconds=0.0))
    return rows


def table(rows):
    def f(v, fmt):
        return "" if v is None else format(v, fmt)

    lines = ["| step | train loss | train acc | lr | held-out loss | held-out acc | chance | teacher's acc | seconds |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['step']} | {f(r.get('loss'), '.4f')} | {f(r.get('acc'), '.3f')} | {f(r.get('lr'), '.2e')} | "
                     f"{f(r.get('eval_loss'), '.4f')} | {f(r.get('eval_acc'), '.3f')} | {f(r.get('eval_chance'), '.3f')} | "
                     f"{f(r.get('eval_teacher_acc'), '.3f')} | {f(r.get('seconds'), '.0f')} |")
    return "\n".join(lines)


def plot(history, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [h for h in history if "loss" in h]
    evals = [h for h in history if "eval_acc" in h]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    a.plot([h["step"] for h in train], [h["loss"] for h in train], lw=0.8, alpha=0.6, label="train (per step)")
    a.plot([h["step"] for h in evals], [h["eval_loss"] for h in evals], "o-", label="held-out")
    a.set_xlabel("step")
    a.set_ylabel("InfoNCE loss (Eq. 12)")
    a.legend()
    b.plot([h["step"] for h in evals], [h["eval_acc"] for h in evals], "o-", label="held-out retrieval accuracy")
    b.plot([h["step"] for h in evals], [h["eval_chance"] for h in evals], "--", color="grey", label="chance")
    if any("eval_teacher_acc" in h for h in evals):
        b.plot([h["step"] for h in evals], [h.get("eval_teacher_acc") for h in evals], ":", color="black",
               label="teacher's own embeddings")
    b.set_xlabel("step")
    b.set_ylabel("accuracy@1 in batch")
    b.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description="Print an SCFT run's training curve.")
    parser.add_argument("run_folder", help="e.g. atomic_data/ml-100k/scft/default")
    parser.add_argument("--every", type=int, default=5, help="steps per row of training loss")
    parser.add_argument("--plot", default=None, help="also write a PNG here")
    args = parser.parse_args(argv)
    history = load_history(args.run_folder)
    print(table(curve_rows(history, args.every)))
    if args.plot:
        print(f"wrote {plot(history, args.plot)}", file=sys.stderr)  # stdout is the table alone


if __name__ == "__main__":
    main()

"""The report of a grid: markdown tables, a CSV of the raw numbers, PNG figures.

``write_report(grid, results_dir)`` writes

* ``<results>/<grid>.md``: every section below that the grid has records for;
* ``<results>/<grid>.csv``: one row per finished cell (the raw numbers behind the tables);
* ``<results>/<grid>/*.png``: the figures.

Sections, and the grid's ``report:`` keys that choose their runs (all optional)::

    report:
      overall: {target: LightGCN_HNLM, baselines: [LightGCN, LightGCN_DNS, ...]}   # Table 2
      ablation: {full: LightGCN_HNLM, rows: {"w/o SCFT": LightGCN_HNLM:stage1, ...}} # Table 3
      generalisation: {rows: {"fine-tuned on Beauty": LightGCN_HNLM:ft-beauty}}      # Table 4
      popularity: [runs]      # Fig. 5b      (default: the overall table's runs)
      sparsity: <sweep>       # Fig. 5a      (default: the sweep over bench_train_ratio)
      sweeps: [<sweep>, ...]  # Fig. 4a-b    (default: every other sweep)
      convergence: [runs]     # Fig. 4c-d    (default: the overall table's runs)
      fhns: [runs]            # Fig. 6       (default: the overall table's runs with an FHNS record)
      efficiency: [runs]      #              (default: the overall table's runs)

Without ``overall.target`` the target is the first run whose model ends with ``_HNLM``; without
``overall.baselines`` every other run that is not from a sweep and whose model does not end with
``_HNLM``. All numbers are the test split at the best validation epoch, mean ± sample std over
the training seeds; the best baseline is chosen per column, and the paired t-test compares the
target with that baseline seed by seed.
"""
import glob
import json
import os
import statistics
import time
from collections import Counter, defaultdict

import numpy as np

from recbole_hnlm.benchmark import plots
from recbole_hnlm.benchmark.analyses import GROUPS
from recbole_hnlm.benchmark.runner import CSV_METRICS, RawStore, cell_status, dataset_folder, missing_requirements
from recbole_hnlm.benchmark.stats import (
    best_baseline,
    fmt_mean_std,
    fmt_pct,
    fmt_pvalue,
    improvement,
    mean_std,
    paired_ttest,
    significance_mark,
)

TRAIN_RATIO_KEY = "bench_train_ratio"
NICE = {"recall@10": "Recall@10", "recall@20": "Recall@20", "ndcg@10": "NDCG@10", "ndcg@20": "NDCG@20"}


class Results:
    """The records of a grid's cells, indexed by (dataset, run name) then seed."""

    def __init__(self, grid, results_dir, overrides=None, seeds=None):
        self.grid = grid
        self.store = RawStore(results_dir)
        self.cells = grid.cells(overrides, seeds=seeds)
        self.by_run = defaultdict(dict)
        self.status = {}
        self.missing = {}
        for cell in self.cells:
            status = cell_status(cell, self.store)
            self.status[(cell.dataset, cell.run.name, cell.seed)] = status
            if status in ("done", "stale"):
                self.by_run[(cell.dataset, cell.run.name)][cell.seed] = self.store.load(cell)
            elif status == "missing-input":
                self.missing[(cell.dataset, cell.run.name)] = missing_requirements(cell)
        self.datasets = list(grid.datasets)

    def records(self, ds, run):
        """``{seed: record}`` of a run on a dataset (finished cells only)."""
        return self.by_run.get((ds, run), {})

    def values(self, ds, run, metric, split="test_result"):
        return {s: r.get(split, {}).get(metric) for s, r in self.records(ds, run).items()}

    def stat(self, ds, run, metric, split="test_result"):
        return mean_std(list(self.values(ds, run, metric, split).values()))

    def defined(self, ds, run):
        """Whether ``run`` has cells on ``ds`` in this grid."""
        return any(c.dataset == ds and c.run.name == run for c in self.cells)

    def why_empty(self, ds, run):
        if (ds, run) in self.missing:
            return "not run: missing " + ", ".join(os.path.relpath(p) for p in self.missing[(ds, run)])
        states = Counter(v for (d, r, _), v in self.status.items() if d == ds and r == run)
        if not states:
            return "not in the grid for this dataset"
        return "not run yet (" + ", ".join(f"{k} {v}" for k, v in sorted(states.items())) + ")"

    def all_records(self):
        return [rec for key in sorted(self.by_run) for _, rec in sorted(self.by_run[key].items())]


# ----- choosing runs ------------------------------------------------------------------------------
def overall_runs(grid):
    """``(target, baselines)`` of the overall table (see the module docstring for the defaults)."""
    if grid.report.get("overall", True) is False:
        return None, []
    spec = grid.report.get("overall") or {}
    main = grid.main_runs()
    target = spec.get("target") or next((r.name for r in main if r.model.endswith("_HNLM")), None)
    baselines = spec.get("baselines")
    if baselines is None:
        listed = set()
        for section in ("ablation", "generalisation"):
            listed |= set(((grid.report.get(section) or {}).get("rows") or {}).values())
        baselines = [r.name for r in main if not r.model.endswith("_HNLM") and r.name not in listed]
    return target, [b for b in baselines if b != target]


def _default_runs(grid, section):
    if grid.report.get(section):
        return list(grid.report[section])
    target, baselines = overall_runs(grid)
    return baselines + ([target] if target else [])


def sparsity_sweep(grid):
    if grid.report.get("sparsity"):
        return grid.report["sparsity"]
    return next((n for n, s in grid.sweeps.items() if s["key"] == TRAIN_RATIO_KEY), None)


def other_sweeps(grid):
    if grid.report.get("sweeps") is not None:
        return list(grid.report["sweeps"])
    sp = sparsity_sweep(grid)
    return [n for n in grid.sweeps if n != sp]


# ----- markdown helpers ---------------------------------------------------------------------------
def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _fig(path, md_dir, alt):
    return f"![{alt}]({os.path.relpath(path, md_dir)})"


# ----- sections -----------------------------------------------------------------------------------
def overall_table(res, ds, metrics=CSV_METRICS, bigger=True):
    """Table 2 for one dataset: markdown, and the numbers (for tests and the CSV)."""
    target, baselines = overall_runs(res.grid)
    rows_runs = [b for b in baselines if res.defined(ds, b)] + ([target] if target and res.defined(ds, target) else [])
    if not rows_runs:
        return None, {}
    stats = {run: {m: res.stat(ds, run, m) for m in metrics} for run in rows_runs}
    best_base = {m: best_baseline({b: stats[b][m][0] for b in baselines if b in stats}, bigger) for m in metrics}
    best_all = {m: best_baseline({r: stats[r][m][0] for r in rows_runs}, bigger) for m in metrics}
    rows = []
    for run in rows_runs:
        n_seeds = len(res.records(ds, run))
        cells = []
        for m in metrics:
            mean, std, _ = stats[run][m]
            text = fmt_mean_std(mean, std)
            if run == best_all[m] and text != "-":
                text = f"**{text}**"
            if run == best_base[m] and text != "-":
                text += " †"
            cells.append(text)
        name = f"**{run}**" if run == target else run
        rows.append([name, *cells, n_seeds if n_seeds else res.why_empty(ds, run)])
    numbers = {"best_baseline": best_base, "improvement": {}, "ttest": {}}
    if target and target in stats and baselines:
        rows.append(["best baseline", *[best_base[m] or "-" for m in metrics], ""])
        imp_row, p_row = ["improvement (%)"], ["p-value, paired t-test"]
        n_pairs = 0
        for m in metrics:
            b = best_base[m]
            imp = improvement(stats[target][m][0], stats[b][m][0]) if b else float("nan")
            t, p, n = paired_ttest(res.values(ds, target, m), res.values(ds, b, m)) if b else (np.nan, np.nan, 0)
            n_pairs = max(n_pairs, n)
            numbers["improvement"][m], numbers["ttest"][m] = imp, (t, p, n)
            imp_row.append(fmt_pct(imp))
            p_row.append(fmt_pvalue(p) + significance_mark(p))
        rows += [imp_row + [""], p_row + [f"{n_pairs} pairs"]]
    header = ["model", *[NICE.get(m, m) for m in metrics], "seeds"]
    return md_table(header, rows), numbers


def ablation_table(res, ds, metrics=CSV_METRICS):
    spec = res.grid.report.get("ablation") or {}
    if not spec:
        return None
    full = spec["full"]
    rows_spec = [("full", full)] + list((spec.get("rows") or {}).items())
    if not any(res.defined(ds, run) for _, run in rows_spec):
        return None
    rows = []
    full_ndcg = res.stat(ds, full, "ndcg@20")[0]
    for label, run in rows_spec:
        if not res.records(ds, run):
            rows.append([label, run, *["-"] * len(metrics), "-", res.why_empty(ds, run)])
            continue
        stats = [res.stat(ds, run, m) for m in metrics]
        delta = "" if run == full else fmt_pct(improvement(stats[metrics.index("ndcg@20")][0], full_ndcg))
        rows.append([label, run, *[fmt_mean_std(m_, s_) for m_, s_, _ in stats], delta, len(res.records(ds, run))])
    return md_table(["variant", "run", *[NICE.get(m, m) for m in metrics], "NDCG@20 vs full", "seeds"], rows)


def generalisation_table(res):
    spec = res.grid.report.get("generalisation") or {}
    rows_spec = list((spec.get("rows") or {}).items())
    if not rows_spec:
        return None
    rows = []
    for label, run in rows_spec:
        meta = res.grid.run_by_name(run).meta
        cells = []
        for ds in res.datasets:
            if not res.defined(ds, run):
                cells.append("")
            elif not res.records(ds, run):
                cells.append(res.why_empty(ds, run))
            else:
                r20, n20 = res.stat(ds, run, "recall@20"), res.stat(ds, run, "ndcg@20")
                cells.append(f"{fmt_mean_std(r20[0], r20[1])} / {fmt_mean_std(n20[0], n20[1])}")
        rows.append([label, run, meta.get("finetuned_on", "-"), *cells])
    return md_table(["setting", "run", "fine-tuned on", *[f"{ds}: Recall@20 / NDCG@20" for ds in res.datasets]], rows)


def popularity_section(res, ds, fig_dir, md_dir, metrics=("recall@20", "ndcg@20")):
    runs = [r for r in _default_runs(res.grid, "popularity") if res.records(ds, r)]
    if not runs:
        return None
    sizes = None
    rows, bars = [], {}
    for run in runs:
        recs = [r for r in res.records(ds, run).values() if r.get("popularity")]
        if not recs:
            continue
        groups = recs[0]["popularity"]["groups"]
        sizes = sizes or groups
        cells = []
        for g in GROUPS:
            for m in metrics:
                cells.append(fmt_mean_std(*mean_std([r["popularity"]["groups"][g].get(m) for r in recs])[:2]))
        rows.append([run, *cells, len(recs)])
        bars[run] = [mean_std([r["popularity"]["groups"][g].get("ndcg@20") for r in recs])[:2] for g in GROUPS]
    if not rows:
        return None
    header = ["model"] + [f"{g} {NICE[m]}" for g in GROUPS for m in metrics] + ["seeds"]
    shares = res.records(ds, runs[0])
    share = next(iter(shares.values()))["popularity"]["shares"]
    text = [f"Groups by training count: unpopular = the {share['unpopular']:.0%} least interacted items, "
            f"popular = the top {share['popular']:.0%}, normal = the rest. Sizes: "
            + ", ".join(f"{g} {sizes[g]['n_items']} items / {sizes[g]['n_test_interactions']} test interactions"
                        for g in GROUPS) + ". Metrics count only the group's test items as relevant, "
            "over users with at least one of them (ranking over all items).", "", md_table(header, rows)]
    if plots.available():
        path = plots.grouped_bars(list(GROUPS), bars, os.path.join(fig_dir, f"popularity_{ds}.png"),
                                  f"{ds}: test NDCG@20 by item popularity", "NDCG@20")
        text += ["", _fig(path, md_dir, f"popularity groups, {ds}")]
    return "\n".join(text)


def sweep_section(res, ds, sweep, fig_dir, md_dir, metric="ndcg@20", xlabel=None):
    spec = res.grid.sweeps[sweep]
    table_rows, series = [], {}
    runs = res.grid.sweep_runs(sweep)
    for value in spec["values"]:
        table_rows.append([value])
    for base, points in runs.items():
        if not res.defined(ds, base):
            continue
        series[base] = []
        for i, (value, run) in enumerate(points):
            stat = res.stat(ds, run.name, metric)
            r20 = res.stat(ds, run.name, "recall@20")
            table_rows[i].append(fmt_mean_std(stat[0], stat[1]) if stat[2] else res.why_empty(ds, run.name))
            table_rows[i].append(fmt_mean_std(r20[0], r20[1]) if r20[2] else "-")
            series[base].append((value, stat[0], stat[1]))
    if not series:
        return None
    header = [spec["key"]] + [f"{b} {NICE[m]}" for b in series for m in (metric, "recall@20")]
    text = [md_table(header, table_rows)]
    numeric = all(isinstance(v, (int, float)) for v in spec["values"])
    if plots.available() and numeric and any(np.isfinite(m) for pts in series.values() for _, m, _ in pts):
        path = plots.lines(series, os.path.join(fig_dir, f"{sweep}_{ds}.png"), f"{ds}: {sweep}",
                           xlabel or spec["key"], f"test {NICE[metric]}", xticks=spec["values"])
        text += ["", _fig(path, md_dir, f"{sweep}, {ds}")]
    return "\n".join(text)


def _curve(records, key, field):
    """Mean and std over seeds at each epoch of a per-epoch list (seeds that reached the epoch)."""
    by_epoch = defaultdict(list)
    for rec in records:
        for row in rec.get(key) or []:
            value = row.get(field) if isinstance(row, dict) else None
            if value is not None:
                by_epoch[row["epoch"]].append(value)
    return [(e + 1, *mean_std(v)[:2]) for e, v in sorted(by_epoch.items())]


def convergence_section(res, ds, fig_dir, md_dir):
    runs = [r for r in _default_runs(res.grid, "convergence") if res.records(ds, r)]
    if not runs:
        return None
    series, rows = {}, []
    metric = None
    for run in runs:
        recs = list(res.records(ds, run).values())
        metric = metric or recs[0].get("valid_metric", "valid score")
        series[run] = _curve(recs, "valid_curve", "score")
        epochs = mean_std([r.get("epochs_run") for r in recs])
        best_epoch = mean_std([(r["best_epoch"] + 1) if r.get("best_epoch") is not None else None for r in recs])
        best = mean_std([r.get("best_valid_score") for r in recs])
        at = {e: dict((x, m) for x, m, _ in series[run]).get(e) for e in (1, 5, 10, 20)}
        rows.append([run, f"{epochs[0]:.1f}", fmt_mean_std(best_epoch[0], best_epoch[1], 1), fmt_mean_std(*best[:2]),
                     *[f"{at[e]:.4f}" if at[e] is not None else "-" for e in (1, 5, 10, 20)]])
    text = [md_table(["model", "epochs run", "best epoch", f"best valid {metric}",
                      *[f"valid @ epoch {e}" for e in (1, 5, 10, 20)]], rows)]
    if plots.available():
        path = plots.lines(series, os.path.join(fig_dir, f"convergence_{ds}.png"), f"{ds}: validation {metric}",
                           "epoch", f"valid {metric}")
        text += ["", _fig(path, md_dir, f"convergence, {ds}")]
    return "\n".join(text)


def fhns_section(res, ds, fig_dir, md_dir):
    runs = [r for r in _default_runs(res.grid, "fhns")
            if any(rec.get("fhns") for rec in res.records(ds, r).values())]
    if not runs:
        return None
    series, rows = {}, []
    for run in runs:
        recs = [r for r in res.records(ds, run).values() if r.get("fhns")]
        series[run] = _curve(recs, "fhns", "rate")
        all_rates = [row["rate"] for r in recs for row in r["fhns"] if row.get("rate") is not None]
        first = mean_std([r["fhns"][0].get("rate") for r in recs])
        last = mean_std([r["fhns"][-1].get("rate") for r in recs])
        sem = [row["semantic_rate"] for r in recs for row in r["fhns"] if row.get("semantic_rate") is not None]
        if sem:
            series[f"{run} (semantic negatives)"] = _curve(recs, "fhns", "semantic_rate")
        rows.append([run, f"{100 * statistics.mean(all_rates):.3f}%" if all_rates else "-",
                     f"{100 * first[0]:.3f}%", f"{100 * last[0]:.3f}%",
                     f"{100 * statistics.mean(sem):.3f}%" if sem else "-", len(recs)])
    text = ["Share of the negatives a method trained on (per epoch) whose CF embedding, under the model at the "
            "end of that epoch, has cosine similarity > 0.99 with one of the user's test items (identical items "
            "included). \"semantic\": the same for the stored semantic negative items of the HNLM model's "
            "training pairs (first n_hard).", "",
            md_table(["model", "mean over epochs", "first epoch", "last epoch", "semantic negatives (mean)", "seeds"],
                     rows)]
    if plots.available():
        pct = {n: [(x, 100 * m, 100 * s) for x, m, s in pts] for n, pts in series.items()}
        path = plots.lines(pct, os.path.join(fig_dir, f"fhns_{ds}.png"), f"{ds}: false hard negatives",
                           "epoch", "FHNS rate (%)")
        text += ["", _fig(path, md_dir, f"false hard negatives, {ds}")]
    return "\n".join(text)


def _seed_mean(records, fn):
    return mean_std([fn(r) for r in records])


def efficiency_section(res, ds):
    runs = [r for r in _default_runs(res.grid, "efficiency") if res.records(ds, r)]
    if not runs:
        return None

    def per_run(recs):
        return {
            "spe": _seed_mean(recs, lambda r: statistics.mean(r["epoch_seconds"]) if r.get("epoch_seconds") else None),
            "peak": _seed_mean(recs, lambda r: (r.get("memory") or {}).get("peak_rss_mb")),
            "growth": _seed_mean(recs, lambda r: (r.get("memory") or {}).get("peak_growth_mb")),
            "epochs": _seed_mean(recs, lambda r: r.get("epochs_run")),
            "train": _seed_mean(recs, lambda r: sum(r.get("epoch_seconds") or []) or None),
            "isolated": all((r.get("memory") or {}).get("isolated") for r in recs),
            "params": recs[0].get("parameters"),
        }

    rows = []
    for run in runs:
        recs = list(res.records(ds, run).values())
        me = per_run(recs)
        backbone = recs[0].get("backbone") or run
        base_recs = list(res.records(ds, backbone).values()) or _backbone_from_store(res, ds, backbone, recs)
        base = per_run(base_recs) if base_recs else None
        ratio_t = (f"{me['spe'][0] / base['spe'][0]:.2f}" if base and base["spe"][0] else "-")
        ratio_m = (f"{me['peak'][0] / base['peak'][0]:.2f}" if base and base["peak"][0] else "-")
        rows.append([run, backbone, f"{me['params']:,}" if me["params"] else "-",
                     fmt_mean_std(me["spe"][0], me["spe"][1], 2), ratio_t,
                     f"{me['peak'][0]:.0f}" if np.isfinite(me["peak"][0]) else "-", ratio_m,
                     f"{me['growth'][0]:.0f}" if np.isfinite(me["growth"][0]) else "-",
                     f"{me['epochs'][0]:.1f}", f"{me['train'][0]:.0f}",
                     "yes" if me["isolated"] else "no (shared process)"])
    return md_table(["model", "backbone", "parameters", "s / epoch", "x backbone", "peak RSS MB", "x backbone",
                     "RSS growth MB", "epochs", "train s", "own process"], rows)


def _backbone_from_store(res, ds, backbone, recs):
    """The backbone's default runs with the same seeds, from the store, when the grid lacks them."""
    out = []
    for rec in recs:
        path = os.path.join(res.store.root, ds, f"{backbone}-default-seed{rec['seed']}.json")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                out.append(json.load(f))
    return out


def offline_section(res, ds):
    """Throughput of the offline LLM stages, from the records they write next to the dataset."""
    cells = [c for c in res.cells if c.dataset == ds]
    folder = dataset_folder(cells[0]) if cells else os.path.join("atomic_data", ds)
    rows = []
    llm = os.path.join(folder, "hnlm", "llm_summary.json")
    if os.path.isfile(llm):
        with open(llm, encoding="utf-8") as f:
            summary = json.load(f)
        dry = summary.get("dry_run")
        for name, st in (summary.get("stages") or {}).items():
            secs = st.get("seconds") or 0
            if dry or not secs:
                rows.append([f"LLM {name}", st.get("model", summary.get("model", "-")), st.get("jobs", "-"),
                             "not measured (dry run)" if dry else "not measured (all answers cached)", "-", "-"])
                continue
            tokens = (st.get("prompt_tokens") or 0) + (st.get("completion_tokens") or 0)
            rows.append([f"LLM {name}", st.get("model", "-"), st.get("jobs", "-"), f"{secs:.0f}",
                         f"{st.get('new_ok', st.get('jobs', 0)) / secs:.2f} answers/s",
                         f"{st.get('completion_tokens', 0) / secs:.1f} out tok/s ({tokens / secs:.0f} total)"])
        for name, ex in (summary.get("exports") or {}).items():
            secs = ex.get("seconds")
            if secs:
                rows.append([f"export {name}", ex.get("model", "-"), ex.get("keys", ex.get("count", "-")),
                             f"{secs:.0f}", f"{ex.get('keys_per_second', '-')} keys/s", "-"])
    for path in sorted(glob.glob(os.path.join(folder, "scft", "*", "summary.json"))):
        with open(path, encoding="utf-8") as f:
            s = json.load(f)
        secs = s.get("train_seconds")
        steps = s.get("step")
        rows.append([f"SCFT train ({os.path.basename(os.path.dirname(path))})", "-", s.get("train_pairs", "-"),
                     f"{secs:.0f}" if secs else "not measured",
                     f"{steps / secs:.2f} steps/s" if secs and steps else "-", "-"])
    for path in sorted(glob.glob(os.path.join(folder, "scft", "*", "export-*.json"))):
        with open(path, encoding="utf-8") as f:
            s = json.load(f)
        for name, part in s.items():
            if isinstance(part, dict) and part.get("seconds"):
                rows.append([f"SCFT export {name}", "-", part.get("keys", "-"), f"{part['seconds']:.0f}",
                             f"{part.get('keys_per_second', '-')} keys/s",
                             f"{part.get('tokens_per_second', '-')} tok/s"])
    if not rows:
        return (f"Not measured: no records of the offline stages in `{os.path.relpath(folder)}` "
                "(`hnlm/llm_summary.json` of `python -m recbole_hnlm.llm`, `scft/*/summary.json` and "
                "`scft/*/export-*.json` of the SCFT stage).")
    return md_table(["stage", "model", "jobs / keys", "seconds", "throughput", "tokens"], rows)


# ----- the whole report ---------------------------------------------------------------------------
def _header(res, overrides):
    grid = res.grid
    recs = res.all_records()
    counts = Counter(res.status.values())
    env = recs[0].get("env", {}) if recs else {}
    configs = [r["config"] for r in recs if r.get("config")] or [c.config for c in res.cells]
    epochs = sorted({c.get("epochs") for c in configs} - {None})
    stopping = sorted({c.get("stopping_step") for c in configs} - {None})
    lines = [f"# Benchmark `{grid.name}`", ""]
    if grid.path:
        lines += [f"Grid file: `{os.path.relpath(grid.path)}`.", ""]
    desc = grid.description.strip()
    if desc:
        lines += [desc, ""]
    lines += [
        f"Datasets: {', '.join(grid.datasets)}. Training seeds: {', '.join(map(str, grid.seeds))} "
        f"(`train_seed`; the data split uses RecBole's `seed`, the same for every cell).",
        f"Cells: {len(res.status)} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}). "
        f"Epochs (max): {', '.join(map(str, epochs)) or '-'}; early stopping patience: "
        f"{', '.join(map(str, stopping)) or '-'} validations.",
    ]
    if env:
        lines.append(f"Machine: {env.get('cpu', '?')}, {env.get('affinity') or env.get('cpu_count')} CPUs usable, "
                     f"{env.get('torch_threads')} torch threads, {env.get('device', 'cpu')}; python {env.get('python')}, "
                     f"torch {env.get('torch')}, recbole {env.get('recbole')}.")
    lines += [f"Written {time.strftime('%Y-%m-%d %H:%M')} by `python -m recbole_hnlm.benchmark report`.", ""]
    return lines


def write_report(grid, results_dir="results", overrides=None, seeds=None):
    """Write the markdown, CSV and figures of ``grid``; returns the paths written."""
    res = Results(grid, results_dir, overrides, seeds)
    md_path = os.path.join(results_dir, f"{grid.name}.md")
    fig_dir = os.path.join(results_dir, grid.name)
    md_dir = os.path.dirname(md_path) or "."
    out = _header(res, overrides)
    written = []
    if not plots.available():
        out += ["_matplotlib is not installed: figures were not drawn (`pip install matplotlib`)._", ""]

    def section(title, body, note=None):
        if body:
            out.extend([f"## {title}", ""] + ([note, ""] if note else []) + [body, ""])

    for ds in res.datasets:
        body, _ = overall_table(res, ds)
        section(f"Overall performance, {ds} (Table 2)", body,
                "Test split at the best validation epoch, mean ± std over seeds. **bold**: best of the column; "
                "†: best baseline of the column; improvement and the paired t-test (scipy `ttest_rel`, over "
                "seeds; * p < 0.05) compare the target (bold name) with that baseline.")
    for ds in res.datasets:
        section(f"Ablation, {ds} (Table 3)", ablation_table(res, ds))
    section("Generalisation (Table 4)", generalisation_table(res),
            "A model's semantic features produced by an LLM fine-tuned on another dataset (`hnlm_feature`).")
    for ds in res.datasets:
        section(f"Popularity groups, {ds} (Fig. 5b)", popularity_section(res, ds, fig_dir, md_dir))
    sp = sparsity_sweep(grid)
    if sp:
        for ds in res.datasets:
            section(f"Sparsity, {ds} (Fig. 5a)", sweep_section(res, ds, sp, fig_dir, md_dir,
                                                               xlabel="share of training interactions kept"),
                    "Training on a share of the training interactions (the same subsample for every model "
                    "and seed; validation and test unchanged).")
    for sweep in other_sweeps(grid):
        for ds in res.datasets:
            section(f"Sweep `{sweep}` ({grid.sweeps[sweep]['key']}), {ds} (Fig. 4a-b)",
                    sweep_section(res, ds, sweep, fig_dir, md_dir))
    for ds in res.datasets:
        section(f"Convergence, {ds} (Fig. 4c-d)", convergence_section(res, ds, fig_dir, md_dir),
                "Validation metric after each epoch, mean over the seeds that reached it (early stopping "
                "ends seeds at different epochs).")
    for ds in res.datasets:
        section(f"False hard negatives, {ds} (Fig. 6)", fhns_section(res, ds, fig_dir, md_dir))
    for ds in res.datasets:
        section(f"Efficiency, {ds}", efficiency_section(res, ds),
                "Seconds per training epoch (evaluation excluded) and peak resident memory of the cell's process "
                "(\"own process\": one child process per cell, so the peak is the model's own), relative to "
                "the backbone's run on the same dataset and seeds.")
        section(f"Offline stages, {ds}", offline_section(res, ds))
    os.makedirs(results_dir, exist_ok=True)
    with open(md_path + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(out).rstrip() + "\n")
    os.replace(md_path + ".tmp", md_path)
    written.append(md_path)
    csv_path = res.store.write_csv(os.path.join(results_dir, f"{grid.name}.csv"), res.all_records())
    written.append(csv_path)
    if os.path.isdir(fig_dir):
        written += sorted(os.path.join(fig_dir, f) for f in os.listdir(fig_dir) if f.endswith(".png"))
    return written

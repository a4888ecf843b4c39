"""Grid files: which datasets, models, variants and seeds a benchmark runs, and what it reports.

A grid is a small YAML file (``benchmarks/grids/*.yaml``)::

    name: ml100k                     # default: the file's stem
    datasets: [ml-100k]              # or a mapping {ml-100k: {per-dataset config overrides}}
    seeds: 3                         # n -> training seeds 1..n, or an explicit list [1, 2, 3]
    config: {epochs: 100, stopping_step: 5}     # RecBole config for every cell
    variants:                        # named config overrides, used as "Model:variant"
      LightGCN:recbole-dns: {train_neg_sample_args: {distribution: uniform, sample_num: 1,
                                                     dynamic: True, candidate_num: 32}}
      LightGCN_HNLM:alpha0: {mix_alpha: 0}
    runs:                            # what runs (cells = datasets x runs x seeds)
      - LightGCN                     # "Model" is the variant "default" (no overrides)
      - LightGCN:recbole-dns
      - LightGCN_HNLM
      - {run: "LightGCN_HNLM:ft-beauty", datasets: [amazon-scientific],
         config: {hnlm_feature: scft-beauty}, requires: ["hnlm/scft-beauty/meta.json"],
         meta: {finetuned_on: amazon-beauty}, seeds: [1]}
    sweeps:                          # one variant per value, for each listed run
      alpha: {key: mix_alpha, values: [0.0, 0.1, 0.2, 0.5], default: 0.2, runs: [LightGCN_HNLM],
              seeds: 2}             # optional: fewer seeds for the sweep's own cells
    probes: [fhns]                   # extra in-run measurements (popularity and per-epoch
                                     # validation are always recorded)
    report: {...}                    # which tables and figures (see recbole_hnlm.benchmark.report)

The model seed of a cell is RecBole's ``train_seed`` (model init, negative sampling and batch
order); ``seed`` (the data split) stays whatever the config says, the same for every cell.

Keys that start with ``bench_`` are read by the benchmark, not by RecBole:
``bench_train_ratio`` (share of the training interactions kept, for the sparsity study).
"""
import copy
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import yaml

DEFAULT_VARIANT = "default"
_NAME = re.compile(r"^[A-Za-z0-9_.+=-]+$")
KNOWN_PROBES = ("fhns",)
BENCH_KEYS = ("bench_train_ratio",)
# defaults that keep a benchmark quiet; a grid's config overrides them
QUIET = {"show_progress": False, "state": "WARNING"}


class GridError(ValueError):
    """A grid file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Run:
    """One model-variant of a grid: ``Model`` or ``Model:variant`` and its config overrides."""

    model: str
    variant: str
    config: Dict = field(default_factory=dict, hash=False, compare=False)
    datasets: Optional[tuple] = None          # None: every dataset of the grid
    requires: tuple = ()                      # paths relative to atomic_data/<ds>/ that must exist
    meta: Dict = field(default_factory=dict, hash=False, compare=False)
    sweep: Optional[str] = None               # name of the sweep that made it
    sweep_value: object = field(default=None, hash=False, compare=False)
    seeds: Optional[tuple] = None             # None: the grid's seeds

    @property
    def name(self):
        """``Model`` for the default variant, else ``Model:variant`` (how grids and tables name it)."""
        return self.model if self.variant == DEFAULT_VARIANT else f"{self.model}:{self.variant}"


@dataclass
class Cell:
    """One training run: a dataset, a run and a training seed."""

    dataset: str
    run: Run
    seed: int
    config: Dict                                # RecBole config dict (bench_ keys included)

    @property
    def model(self):
        return self.run.model

    @property
    def variant(self):
        return self.run.variant

    @property
    def key(self):
        """``<model>-<variant>-seed<k>``: the record's file name without ``.json``."""
        return f"{self.run.model}-{self.run.variant}-seed{self.seed}"

    @property
    def label(self):
        return f"{self.dataset}/{self.key}"

    def fingerprint(self):
        """Hash of what determines the result: dataset, model and the whole config dict."""
        blob = json.dumps([self.dataset, self.run.model, self.config], sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]

    def recbole_config(self):
        """The config dict given to RecBole (without the benchmark's own ``bench_`` keys)."""
        return {k: v for k, v in self.config.items() if not k.startswith("bench_")}


@dataclass
class Grid:
    name: str
    path: Optional[str]
    datasets: Dict[str, Dict]
    seeds: List[int]
    config: Dict
    variants: Dict[str, Dict]
    runs: List[Run]
    sweeps: Dict[str, Dict]
    probes: List[str]
    report: Dict
    description: str = ""

    def run_by_name(self, name):
        for run in self.runs:
            if run.name == name:
                return run
        raise GridError(f"{self.path or self.name}: no run named {name!r} (runs: {[r.name for r in self.runs]})")

    def sweep_runs(self, sweep):
        """``{base run name: [(value, Run), ...]}`` of one sweep, in the sweep's value order."""
        spec = self.sweeps[sweep]
        out = {}
        for base in spec["runs"]:
            out[base] = [(v, self.run_by_name(_sweep_run_name(base, sweep, v, spec))) for v in spec["values"]]
        return out

    def main_runs(self):
        """Runs listed under ``runs`` (not made by a sweep)."""
        return [r for r in self.runs if r.sweep is None]

    def cells(self, overrides=None, seeds=None, datasets=None, only=None, order="run"):
        """Every cell, in run order: dataset, then run, then seed.

        ``overrides`` (the command line's ``--epochs``, ``--set``) win over everything else;
        ``seeds`` / ``datasets`` restrict the grid; ``only`` is a list of glob patterns matched
        against ``<dataset>/<model>-<variant>-seed<k>``. ``order="seed"`` runs every run of the
        grid's ``runs`` once per seed before the next seed, then the sweeps' runs likewise (so a
        budget that ends early leaves every model with some seeds rather than some models with all).
        """
        import fnmatch

        seeds = self.seeds if seeds is None else list(seeds)
        out = []
        for ds, ds_config in self.datasets.items():
            if datasets and ds not in datasets:
                continue
            for run in self.runs:
                if run.datasets is not None and ds not in run.datasets:
                    continue
                run_seeds = seeds if run.seeds is None else [s for s in run.seeds if s in seeds]
                for seed in run_seeds:
                    config = copy.deepcopy(QUIET)
                    for layer in (self.config, ds_config, run.config, overrides or {}):
                        config.update(copy.deepcopy(layer))
                    config["train_seed"] = int(seed)
                    cell = Cell(ds, run, int(seed), config)
                    if only and not any(fnmatch.fnmatch(cell.label, pat) for pat in only):
                        continue
                    out.append(cell)
        if order == "seed":
            ds_pos = {d: i for i, d in enumerate(self.datasets)}
            run_pos = {r.name: i for i, r in enumerate(self.runs)}
            out.sort(key=lambda c: (ds_pos[c.dataset], c.run.sweep is not None, c.seed, run_pos[c.run.name]))
        elif order != "run":
            raise ValueError(f"order must be 'run' or 'seed', got {order!r}")
        return out


def _sweep_variant(base_variant, sweep, value):
    tag = f"{sweep}{value}"
    return tag if base_variant == DEFAULT_VARIANT else f"{base_variant}.{tag}"


def _sweep_run_name(base, sweep, value, spec):
    """Name of the run a sweep makes for ``base`` and ``value`` (``base`` itself at the default)."""
    if "default" in spec and _same(value, spec["default"]):
        return base
    model, _, variant = base.partition(":")
    return f"{model}:{_sweep_variant(variant or DEFAULT_VARIANT, sweep, value)}"


def _same(a, b):
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return a == b


def _seeds(raw, where):
    """A seed count n (-> 1..n) or a list of distinct integers."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw < 1:
            raise GridError(f"{where}: must be >= 1, got {raw}")
        return list(range(1, raw + 1))
    if isinstance(raw, list) and raw and all(isinstance(s, int) and not isinstance(s, bool) for s in raw):
        if len(set(raw)) != len(raw):
            raise GridError(f"{where}: seeds are repeated: {raw}")
        return list(raw)
    raise GridError(f"{where}: expected a count or a list of integers, got {raw!r}")


def _split_name(name, where):
    if not isinstance(name, str) or not name:
        raise GridError(f"{where}: a run must be 'Model' or 'Model:variant', got {name!r}")
    model, sep, variant = name.partition(":")
    variant = variant if sep else DEFAULT_VARIANT
    for part in (model, variant):
        if not _NAME.match(part):
            raise GridError(f"{where}: {name!r}: names may hold letters, digits and _ . + = - only")
    return model, variant


def _mapping(value, where):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GridError(f"{where}: expected a mapping, got {type(value).__name__}")
    for key in value:
        if key == "train_seed":
            raise GridError(f"{where}: 'train_seed' is set per cell from 'seeds'; do not set it in a grid")
    return dict(value)


def parse_grid(data, path=None):
    """Build a :class:`Grid` from the mapping read from a grid file; every error names the entry."""
    where = path or "<grid>"
    if not isinstance(data, dict):
        raise GridError(f"{where}: a grid is a mapping, got {type(data).__name__}")
    unknown = set(data) - {"name", "description", "datasets", "seeds", "config", "variants", "runs", "sweeps",
                           "probes", "report"}
    if unknown:
        raise GridError(f"{where}: unknown keys {sorted(unknown)}")
    name = data.get("name") or (os.path.splitext(os.path.basename(path))[0] if path else "grid")
    if not _NAME.match(str(name)):
        raise GridError(f"{where}: name {name!r} may hold letters, digits and _ . + = - only")

    raw_ds = data.get("datasets")
    if not raw_ds:
        raise GridError(f"{where}: 'datasets' is missing or empty")
    if isinstance(raw_ds, str):
        raw_ds = [raw_ds]
    datasets = ({d: {} for d in raw_ds} if isinstance(raw_ds, list)
                else {d: _mapping(c, f"{where}: datasets.{d}") for d, c in raw_ds.items()})

    seeds = _seeds(data.get("seeds", 5), f"{where}: seeds")

    config = _mapping(data.get("config"), f"{where}: config")
    variants = {}
    for vname, overrides in (data.get("variants") or {}).items():
        model, variant = _split_name(vname, f"{where}: variants")
        if variant == DEFAULT_VARIANT:
            raise GridError(f"{where}: variants.{vname}: a variant needs a name: 'Model:name'")
        variants[f"{model}:{variant}"] = _mapping(overrides, f"{where}: variants.{vname}")

    runs, seen = [], set()

    def add(run, entry_where):
        if run.name in seen:
            raise GridError(f"{entry_where}: run {run.name!r} is listed twice")
        seen.add(run.name)
        runs.append(run)

    for i, entry in enumerate(data.get("runs") or []):
        ew = f"{where}: runs[{i}]"
        if isinstance(entry, str):
            entry = {"run": entry}
        if not isinstance(entry, dict) or "run" not in entry:
            raise GridError(f"{ew}: expected 'Model', 'Model:variant' or a mapping with 'run'")
        bad = set(entry) - {"run", "config", "datasets", "requires", "meta", "seeds"}
        if bad:
            raise GridError(f"{ew}: unknown keys {sorted(bad)}")
        model, variant = _split_name(entry["run"], ew)
        overrides = dict(variants.get(f"{model}:{variant}", {}))
        overrides.update(_mapping(entry.get("config"), f"{ew}.config"))
        if variant != DEFAULT_VARIANT and f"{model}:{variant}" not in variants and "config" not in entry:
            raise GridError(f"{ew}: variant {entry['run']!r} is defined neither under 'variants' nor by 'config'")
        ds = entry.get("datasets")
        if ds is not None:
            ds = tuple([ds] if isinstance(ds, str) else ds)
            missing = [d for d in ds if d not in datasets]
            if missing:
                raise GridError(f"{ew}: datasets {missing} are not among the grid's {list(datasets)}")
        req = entry.get("requires") or ()
        req = tuple([req] if isinstance(req, str) else req)
        run_seeds = tuple(_seeds(entry["seeds"], f"{ew}.seeds")) if "seeds" in entry else None
        add(Run(model, variant, overrides, ds, req, dict(entry.get("meta") or {}), seeds=run_seeds), ew)
    if not runs:
        raise GridError(f"{where}: 'runs' is missing or empty")

    sweeps = {}
    for sname, spec in (data.get("sweeps") or {}).items():
        sw = f"{where}: sweeps.{sname}"
        if not _NAME.match(str(sname)):
            raise GridError(f"{sw}: the name may hold letters, digits and _ . + = - only")
        if not isinstance(spec, dict) or not {"key", "values", "runs"} <= set(spec):
            raise GridError(f"{sw}: needs 'key', 'values' and 'runs'")
        if not isinstance(spec["values"], list) or not spec["values"]:
            raise GridError(f"{sw}: 'values' must be a non-empty list")
        if spec["key"] == "train_seed":
            raise GridError(f"{sw}: seeds are not swept; use 'seeds'")
        bad = set(spec) - {"key", "values", "runs", "default", "seeds"}
        if bad:
            raise GridError(f"{sw}: unknown keys {sorted(bad)}")
        spec = dict(spec)
        spec["runs"] = [spec["runs"]] if isinstance(spec["runs"], str) else list(spec["runs"])
        sweep_seeds = tuple(_seeds(spec["seeds"], f"{sw}.seeds")) if "seeds" in spec else None
        sweeps[sname] = spec
        for base in spec["runs"]:
            base_run = next((r for r in runs if r.name == base), None)
            if base_run is None:
                raise GridError(f"{sw}: run {base!r} is not listed under 'runs'")
            for value in spec["values"]:
                rname = _sweep_run_name(base, sname, value, spec)
                if rname == base:
                    continue
                model, variant = _split_name(rname, sw)
                overrides = dict(base_run.config)
                overrides[spec["key"]] = value
                existing = next((r for r in runs if r.name == rname), None)
                if existing is not None:  # listed under runs too (e.g. an ablation row): the same cells
                    if existing.config != overrides:
                        raise GridError(f"{sw}: run {rname!r} is also listed under 'runs' with another config "
                                        f"({existing.config} vs {overrides})")
                    continue
                add(Run(model, variant, overrides, base_run.datasets, base_run.requires, dict(base_run.meta),
                        sweep=sname, sweep_value=value,
                        seeds=sweep_seeds if sweep_seeds is not None else base_run.seeds), sw)

    probes = data.get("probes") or []
    probes = [probes] if isinstance(probes, str) else list(probes)
    bad = [p for p in probes if p not in KNOWN_PROBES]
    if bad:
        raise GridError(f"{where}: unknown probes {bad}; known: {list(KNOWN_PROBES)}")
    report = _mapping(data.get("report"), f"{where}: report")
    grid = Grid(str(name), path, datasets, seeds, config, variants, runs, sweeps, probes, report,
                str(data.get("description") or ""))
    _check_report_names(grid)
    return grid


def _check_report_names(grid):
    """Every run a report section names must be a run of the grid."""
    names = {r.name for r in grid.runs}
    where = f"{grid.path or grid.name}: report"

    def check(name, section):
        if name not in names:
            raise GridError(f"{where}.{section}: {name!r} is not a run of this grid")

    rep = grid.report
    unknown = set(rep) - {"overall", "ablation", "generalisation", "popularity", "fhns", "convergence",
                          "efficiency", "sweeps", "sparsity"}
    if unknown:
        raise GridError(f"{where}: unknown sections {sorted(unknown)}")
    overall = rep.get("overall") or {}
    if overall.get("target"):
        check(overall["target"], "overall.target")
    for b in overall.get("baselines") or []:
        check(b, "overall.baselines")
    abl = rep.get("ablation") or {}
    if abl:
        if "full" not in abl:
            raise GridError(f"{where}.ablation: needs 'full' (the complete model's run)")
        check(abl["full"], "ablation.full")
        for label, run in (abl.get("rows") or {}).items():
            check(run, f"ablation.rows.{label}")
    for label, run in ((rep.get("generalisation") or {}).get("rows") or {}).items():
        check(run, f"generalisation.rows.{label}")
    for section in ("popularity", "fhns", "convergence", "efficiency"):
        for run in rep.get(section) or []:
            check(run, section)
    for sweep in rep.get("sweeps") or []:
        if sweep not in grid.sweeps:
            raise GridError(f"{where}.sweeps: {sweep!r} is not a sweep of this grid")
    for key in ("sparsity",):
        if rep.get(key) and rep[key] not in grid.sweeps:
            raise GridError(f"{where}.{key}: {rep[key]!r} is not a sweep of this grid")


def load_grid(path):
    """Read and check a grid file."""
    if not os.path.isfile(path):
        raise GridError(f"{path}: no such grid file")
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise GridError(f"{path}: not valid YAML: {e}") from e
    return parse_grid(data, path)


def parse_override(text):
    """``key=value`` from the command line, the value read as YAML (``epochs=5``, ``topk=[10,20]``)."""
    key, sep, value = text.lstrip("-").partition("=")
    if not sep or not key:
        raise GridError(f"override {text!r} is not key=value")
    if key == "train_seed":
        raise GridError("train_seed is set per cell from the grid's seeds; use --seeds")
    return key, yaml.safe_load(value)

"""Benchmark and analysis suite: the paper's tables and figures from one command.

    python -m recbole_hnlm.benchmark run benchmarks/grids/ml100k.yaml --epochs 100 --stopping_step 5
    python -m recbole_hnlm.benchmark report benchmarks/grids/ml100k.yaml

Modules: :mod:`~recbole_hnlm.benchmark.grid` (grid files), :mod:`~recbole_hnlm.benchmark.runner`
(resumable runs, one record per cell), :mod:`~recbole_hnlm.benchmark.analyses` (in-run
measurements: popularity groups, false hard negatives, convergence), :mod:`~recbole_hnlm.benchmark.stats`
(mean/std, best baseline, improvement, paired t-test), :mod:`~recbole_hnlm.benchmark.report`
(markdown tables and CSV) and :mod:`~recbole_hnlm.benchmark.plots` (PNG figures). See docs/benchmark.md.
"""
from recbole_hnlm.benchmark.grid import Grid, GridError, load_grid, parse_grid

__all__ = ["Grid", "GridError", "load_grid", "parse_grid"]

"""Statistics of the benchmark tables: mean and std over seeds, best baseline, improvement, t-test.

All functions are pure and work on plain Python / numpy values, so that they are tested on
hand-computed cases.
"""
import math

import numpy as np


def mean_std(values):
    """``(mean, std, n)`` of the finite values; std is the sample std (ddof = 1), NaN for one value.

    NaN and None are left out; with no value left, ``(nan, nan, 0)``.
    """
    vals = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(vals) == 0:
        return float("nan"), float("nan"), 0
    std = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
    return float(vals.mean()), std, len(vals)


def improvement(target, baseline):
    """Relative improvement of ``target`` over ``baseline`` in percent: 100 (t - b) / b.

    NaN when either is missing or the baseline is 0.
    """
    if target is None or baseline is None or not np.isfinite(target) or not np.isfinite(baseline) or baseline == 0:
        return float("nan")
    return 100.0 * (target - baseline) / abs(baseline)


def best_baseline(means, bigger=True):
    """Name of the best of ``{name: mean}`` (largest when ``bigger``); NaN means are skipped.

    Ties go to the name listed first. None when no finite mean is given.
    """
    best, best_value = None, None
    for name, value in means.items():
        if value is None or not np.isfinite(value):
            continue
        if best is None or (value > best_value if bigger else value < best_value):
            best, best_value = name, value
    return best


def paired_ttest(target, baseline):
    """Two-sided paired t-test over seeds (``scipy.stats.ttest_rel``) of two ``{seed: value}`` maps.

    Only seeds present (and finite) in both count. Returns ``(t, p, n_pairs)``; t and p are NaN
    with fewer than two pairs or when every difference is the same (no variance: the t statistic
    is undefined, scipy would warn and return NaN too).
    """
    from scipy import stats

    seeds = sorted(s for s in target if s in baseline
                   and target[s] is not None and baseline[s] is not None
                   and np.isfinite(target[s]) and np.isfinite(baseline[s]))
    n = len(seeds)
    if n < 2:
        return float("nan"), float("nan"), n
    a = np.array([target[s] for s in seeds], dtype=float)
    b = np.array([baseline[s] for s in seeds], dtype=float)
    d = a - b
    if np.allclose(d, d[0], rtol=0, atol=1e-15):
        return float("nan"), float("nan"), n
    result = stats.ttest_rel(a, b)
    return float(result.statistic), float(result.pvalue), n


def fmt_mean_std(mean, std, digits=4):
    """``0.1234 ± 0.0012``, or ``-`` when the mean is missing."""
    if mean is None or not np.isfinite(mean):
        return "-"
    if std is None or not np.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def fmt_pvalue(p):
    """A p-value for a table: ``0.012``, ``3.1e-05``, or ``-`` when undefined."""
    if p is None or not np.isfinite(p):
        return "-"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def fmt_pct(x, digits=2):
    if x is None or not np.isfinite(x):
        return "-"
    return f"{x:+.{digits}f}%"


def significance_mark(p, alpha=0.05):
    """``*`` when p < alpha, else empty."""
    return "*" if p is not None and math.isfinite(p) and p < alpha else ""

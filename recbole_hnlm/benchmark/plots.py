"""PNG figures of the report (matplotlib, headless ``Agg`` backend).

Each function takes plain series (already averaged over seeds by the report) and a path, writes
one PNG, and returns the path; none of them reads records. matplotlib is in the ``bench`` extra;
without it the report keeps its tables and says the figures were not drawn.
"""
import math
import os


def available():
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _finite(v):
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def lines(series, path, title, xlabel, ylabel, xticks=None, logy=False):
    """One line per name: ``{name: [(x, mean, std), ...]}``; std drawn as a band (when finite)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, points in series.items():
        pts = [(x, m, s) for x, m, s in points if _finite(m)]
        if not pts:
            continue
        xs, ms, ss = zip(*pts)
        ax.plot(xs, ms, marker="o" if len(xs) < 30 else None, ms=4, label=name)
        if any(_finite(s) and s > 0 for s in ss):
            lo = [m - (s if _finite(s) else 0) for m, s in zip(ms, ss)]
            hi = [m + (s if _finite(s) else 0) for m, s in zip(ms, ss)]
            ax.fill_between(xs, lo, hi, alpha=0.2)
    if xticks is not None:
        ax.set_xticks(list(xticks))
    if logy:
        ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def grouped_bars(groups, values, path, title, ylabel):
    """Bars grouped by ``groups`` (x), one bar per name: ``values = {name: [(mean, std) per group]}``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    names = list(values)
    width = 0.8 / max(len(names), 1)
    for j, name in enumerate(names):
        xs = [i - 0.4 + width * (j + 0.5) for i in range(len(groups))]
        means = [m if _finite(m) else 0.0 for m, _ in values[name]]
        errs = [s if _finite(s) else 0.0 for _, s in values[name]]
        ax.bar(xs, means, width, yerr=errs, capsize=2, label=name)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)

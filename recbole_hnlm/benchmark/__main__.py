"""Command line of the benchmark suite.

    python -m recbole_hnlm.benchmark run    GRID [GRID ...] [--epochs N] [--stopping_step N] [--max-time S] ...
    python -m recbole_hnlm.benchmark report GRID [GRID ...] [--results results]
    python -m recbole_hnlm.benchmark status GRID [GRID ...]

``run`` trains every cell (dataset x run x seed) without a finished record, ``report`` writes the
tables and figures from the records, ``status`` lists the cells and what is done. See
docs/benchmark.md.
"""
import argparse
import logging
import sys

from recbole_hnlm.benchmark.grid import GridError, load_grid, parse_override


def _common(p):
    p.add_argument("grids", nargs="+", help="grid files (benchmarks/grids/*.yaml)")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--datasets", nargs="+", help="only these datasets of the grid")
    p.add_argument("--seeds", type=int, nargs="+", help="only these training seeds (default: the grid's)")
    p.add_argument("--only", nargs="+", metavar="GLOB", help="only cells matching <dataset>/<model>-<variant>-seed<k>")
    p.add_argument("--epochs", type=int, help="epochs (maximum; early stopping still applies) for every cell")
    p.add_argument("--stopping_step", type=int, help="early-stopping patience for every cell")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="any config override for every cell (repeatable; value read as YAML)")


def _overrides(args):
    out = {}
    if getattr(args, "epochs", None) is not None:
        out["epochs"] = args.epochs
    if getattr(args, "stopping_step", None) is not None:
        out["stopping_step"] = args.stopping_step
    for text in getattr(args, "overrides", []) or []:
        key, value = parse_override(text)
        out[key] = value
    return out


def _log_to_stderr():
    """The benchmark's own messages on stderr; RecBole's logging (root logger) is left as it is."""
    log = logging.getLogger("recbole_hnlm.benchmark")
    if not any(getattr(h, "_bench", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        handler._bench = True
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m recbole_hnlm.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="train the cells of one or more grids (resumable)")
    _common(run)
    run.add_argument("--max-time", type=float, metavar="SECONDS",
                     help="time budget of this call, over all grids: no new cell starts once it is spent")
    run.add_argument("--cell-timeout", type=float, metavar="SECONDS",
                     help="stop (and record as failed) a cell that runs longer (process isolation)")
    run.add_argument("--isolation", choices=("process", "inline"), default="process",
                     help="one child process per cell (default; own peak memory) or this process")
    run.add_argument("--threads", type=int,
                     help="torch threads per cell (default: torch's; 1 is much faster on a shared, busy CPU)")
    run.add_argument("--order", choices=("run", "seed"), default="run",
                     help="run: each run's seeds in turn (default); seed: every run once per seed first")
    run.add_argument("--rerun-stale", action="store_true", help="recompute cells finished with another config")
    run.add_argument("--dry-run", action="store_true", help="list the cells that would run, run nothing")
    run.add_argument("--report", action="store_true", help="write the report of each grid afterwards")
    run.add_argument("--no-progress", action="store_true", help="no progress bar (one line per cell instead)")

    rep = sub.add_parser("report", help="write tables (markdown, CSV) and figures (PNG) from the records")
    _common(rep)

    st = sub.add_parser("status", help="list the cells of the grids and their state")
    _common(st)

    child = sub.add_parser("_cell", help=argparse.SUPPRESS)
    child.add_argument("spec")
    child.add_argument("out")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    _log_to_stderr()
    if args.command == "_cell":
        from recbole_hnlm.benchmark.runner import child_main

        return child_main(args.spec, args.out)
    try:
        grids = [load_grid(p) for p in args.grids]
        overrides = _overrides(args)
    except GridError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    sys.argv = sys.argv[:1]  # RecBole's Config also reads --key=value from the command line
    if args.command == "run":
        import signal
        import time

        def _terminate(signum, frame):
            raise SystemExit(128 + signum)  # unwinds, so the cell's child process is stopped too

        signal.signal(signal.SIGTERM, _terminate)

        from recbole_hnlm.benchmark.runner import run_grid

        start, failed = time.time(), 0
        for grid in grids:
            left = None if args.max_time is None else max(0.0, args.max_time - (time.time() - start))
            summary = run_grid(grid, args.results, overrides, seeds=args.seeds, datasets=args.datasets,
                               only=args.only, max_time=left, isolation=args.isolation,
                               cell_timeout=args.cell_timeout, threads=args.threads,
                               rerun_stale=args.rerun_stale, dry_run=args.dry_run,
                               progress=not args.no_progress, order=args.order)
            failed += summary["failed"]
            print(f"grid {grid.name}: " + ", ".join(f"{k} {v:.0f}" if isinstance(v, float) else f"{k} {v}"
                                                    for k, v in summary.items()))
            if args.report and not args.dry_run:
                from recbole_hnlm.benchmark.report import write_report

                for path in write_report(grid, args.results, overrides, seeds=args.seeds):
                    print(f"wrote {path}")
        return 1 if failed else 0
    if args.command == "report":
        from recbole_hnlm.benchmark.report import write_report

        for grid in grids:
            for path in write_report(grid, args.results, overrides, seeds=args.seeds):
                print(f"wrote {path}")
        return 0
    if args.command == "status":
        from collections import Counter

        from recbole_hnlm.benchmark.runner import status_rows

        for grid in grids:
            rows = status_rows(grid, args.results, overrides, seeds=args.seeds, datasets=args.datasets,
                               only=args.only)
            for cell, status in rows:
                print(f"{status:14s} {cell.label}")
            counts = Counter(s for _, s in rows)
            print(f"grid {grid.name}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())

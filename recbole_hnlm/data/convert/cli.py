"""Command line: ``python -m recbole_hnlm.data.convert <format> --input ... --output atomic_data/<ds>``."""
import argparse
import logging
import sys

from .errors import ConvertError
from .formats import FORMATS
from .output import Terminated
from .pipeline import convert
from .presets import PRESETS


def build_parser():
    formats = "\n".join(f"  {name:<11} {desc}" for name, (_, desc) in FORMATS.items())
    presets = "\n".join(
        f"  {p.name:<16} {p.description}: {', '.join(f'{k}={v}' for k, v in p.filters.items())}"
        for p in PRESETS.values()
    )
    parser = argparse.ArgumentParser(
        prog="python -m recbole_hnlm.data.convert",
        description="Convert a raw or processed recommendation dataset to RecBole atomic files, "
                    "with the HNLMRec paper's filters.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"formats:\n{formats}\n\npresets:\n{presets}\n\n"
               "Dates are UTC; --start-date is inclusive, --end-date exclusive. Filter options override a preset.",
    )
    parser.add_argument("format", help="source format: " + ", ".join(FORMATS))
    parser.add_argument("--input", "-i", required=True, help="review/interaction file, or the dataset folder")
    parser.add_argument("--output", "-o", required=True,
                        help="output folder, e.g. atomic_data/<ds>; its name is the dataset name")
    parser.add_argument("--meta", help="item metadata file (Amazon meta, Yelp business.json, P5 .item, unisrec .text / RecBole .item)")
    parser.add_argument("--users", help="user file (Yelp user.json)")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="the paper's filters for one dataset")
    parser.add_argument("--min-rating", type=float, help="keep interactions with rating >= this")
    parser.add_argument("--start-date", help="keep interactions at or after this UTC date (YYYY-MM-DD)")
    parser.add_argument("--end-date", help="keep interactions before this UTC date (exclusive)")
    parser.add_argument("--k-core", type=int, help="iterative k-core: users and items with >= K interactions")
    parser.add_argument("--min-user-inter", type=int, help="k-core threshold for users only")
    parser.add_argument("--min-item-inter", type=int, help="k-core threshold for items only")
    parser.add_argument("--dedup", choices=("first", "last", "all"),
                        help="repeated (user, item): keep the first, the last, or all "
                             "(default: first for raw review dumps, all for processed sets)")
    parser.add_argument("--skip-bad", action="store_true", help="skip and count malformed lines instead of failing")
    parser.add_argument("--split", choices=("benchmark", "random"),
                        help="pre-split sources (unisrec, lightgcn): 'benchmark' (default) writes the source's "
                             "train/valid/test files and benchmark_filename, which replaces RecBole's eval_args split; "
                             "'random' writes <ds>.inter only, for RecBole's own split (80/10/10 random by default)")
    parser.add_argument("--sample-users", type=int, metavar="N",
                        help="keep the interactions of N users drawn at random (--seed), before de-duplication "
                             "and k-core")
    parser.add_argument("--valid-ratio", type=float,
                        help="lightgcn: share of each user's train items moved to valid (default 0.1)")
    parser.add_argument("--seed", type=int,
                        help="seed for --sample-users and the lightgcn validation carve (default 2020)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors in the log")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        convert(
            args.format, args.input, args.output, meta=args.meta, users=args.users, preset=args.preset,
            min_rating=args.min_rating, start_date=args.start_date, end_date=args.end_date,
            k_core=args.k_core, min_user_inter=args.min_user_inter, min_item_inter=args.min_item_inter,
            dedup=args.dedup, skip_bad=args.skip_bad, split=args.split, sample_users=args.sample_users,
            valid_ratio=args.valid_ratio, seed=args.seed, progress=not args.no_progress,
        )
    except ConvertError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Terminated:
        print("terminated; no output written", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted; no output written", file=sys.stderr)
        return 130
    return 0

"""The conversion pipeline: read -> filter -> write atomic files, summary and RecBole settings."""
import logging
import os
import time

import numpy as np

from . import jsonio, stats as stats_mod
from .base import Inputs
from .errors import ConvertError
from .filters import FilterSpec, RowFilter, deduplicate, k_core as k_core_filter
from .formats import make_source
from .interactions import SPLIT_NAMES, InteractionBuffer
from .output import AtomicOutput, TableWriter
from .presets import PRESETS
from .splits import carve_valid
from .streams import LineReader
from .text import format_float

logger = logging.getLogger(__name__)

INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


def resolve_filters(fmt, preset=None, **overrides):
    """The :class:`FilterSpec` from a preset name (or none) and explicit overrides."""
    if preset is None:
        return FilterSpec(**{k: v for k, v in overrides.items() if v is not None})
    if preset not in PRESETS:
        raise ConvertError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
    p = PRESETS[preset]
    if fmt not in p.formats:
        logger.warning("preset %r was made for format(s) %s, not %r", preset, "/".join(p.formats), fmt)
    return p.spec(**overrides)


def _check_output_location(output, input_paths):
    """Refuse to write into (or below) the folder of an input: raw dumps stay untouched."""
    out = os.path.realpath(output)
    for p in input_paths:
        folder = os.path.realpath(p if os.path.isdir(p) else os.path.dirname(os.path.abspath(p)))
        if out == folder or out.startswith(folder.rstrip(os.sep) + os.sep):
            raise ConvertError(f"refusing to write {output} inside the input folder {folder}; choose another --output")


def _float_strings(values):
    """Atomic-file text for a float array, vectorised for the common all-integer case."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) and np.all(np.isfinite(values)) and np.all(values == np.round(values)) \
            and np.all(np.abs(values) < 1e15):
        return list(map(str, values.astype(np.int64).tolist()))
    return [format_float(v) for v in values.tolist()]


def _write_inter_files(out, rows, columns, splits=None, chunk=1 << 17):
    """Write ``<ds>.inter`` (and, with ``splits``, the benchmark files) in chunks of rows.

    ``columns`` is ``(user_tokens, item_tokens, users, items, ratings, timestamps)``: token arrays
    (object dtype) indexed by the per-row id arrays. Returns the row count of each split file.
    """
    user_tokens, item_tokens, users, items, ratings, timestamps = columns
    files = [open(out.path("inter"), "w", encoding="utf-8", newline="\n")]
    if splits is not None:
        files += [open(out.path(f"{name}.inter"), "w", encoding="utf-8", newline="\n") for name in SPLIT_NAMES]
    counts = [0] * len(SPLIT_NAMES)
    try:
        for f in files:
            f.write(INTER_HEADER)
        for start in range(0, len(rows), chunk):
            r = rows[start:start + chunk]
            lines = list(map("\t".join, zip(user_tokens[users[r]].tolist(), item_tokens[items[r]].tolist(),
                                             _float_strings(ratings[r]), _float_strings(timestamps[r]))))
            files[0].write("\n".join(lines) + "\n")
            if splits is not None:
                codes = splits[r]
                for code in range(len(SPLIT_NAMES)):
                    sel = np.flatnonzero(codes == code).tolist()
                    if sel:
                        files[code + 1].write("\n".join([lines[j] for j in sel]) + "\n")
                        counts[code] += len(sel)
    finally:
        for f in files:
            f.close()
    return dict(zip(SPLIT_NAMES, counts)) if splits is not None else None


def _yaml_text(name, fmt, preset, benchmark, timestamps):
    lines = [
        f"# RecBole settings for {name}, written by recbole_hnlm.data.convert (format {fmt}"
        + (f", preset {preset}" if preset else "") + ").",
        f"# timestamp: {timestamps}.",
        'field_separator: "\\t"',
        'seq_separator: " "',
        "USER_ID_FIELD: user_id",
        "ITEM_ID_FIELD: item_id",
        "RATING_FIELD: rating",
        "TIME_FIELD: timestamp",
        "load_col:",
        "  inter: [user_id, item_id, rating, timestamp]",
    ]
    if benchmark:
        lines.append("benchmark_filename: [train, valid, test]")
    return "\n".join(lines) + "\n"


def _write_table(path, columns, rows_for, tokens):
    """Write ``.item`` / ``.user``: the source's rows for ``tokens``, then empty rows for the rest.

    ``rows_for(wanted)`` yields ``(token, values)``; returns how many tokens had no row in the source.
    """
    wanted = set(tokens)
    written = set()
    with TableWriter(path, columns) as table:
        for token, values in rows_for(wanted):
            if token in wanted and token not in written:
                written.add(token)
                table.write(token, values)
        missing = [t for t in tokens if t not in written]
        for token in missing:
            table.write(token)
    return len(missing)


def _write_reviews(path, buf, keep, tokens):
    """Write ``<ds>.reviews.jsonl`` for the kept rows that have review text; returns the count.

    The texts are streamed back from the buffer's temporary file; no file is left when there are none.
    """
    user_tokens, item_tokens = tokens
    users, items, ratings, timestamps, _ = buf.arrays()
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for row, summary, text in buf.iter_reviews(keep):
            f.write(jsonio.dumps({
                "user_id": user_tokens[users[row]], "item_id": item_tokens[items[row]],
                "timestamp": float(timestamps[row]), "rating": float(ratings[row]),
                "summary": summary, "text": text,
            }) + "\n")
            n += 1
    if n == 0:
        os.remove(path)
    return n


SPLIT_TEXT = {
    "benchmark": "benchmark: the source's own split ({how}) in <ds>.{{train,valid,test}}.inter; <ds>.yaml sets "
                 "benchmark_filename, so RecBole uses these files and NOT its eval_args split (80/10/10 random by "
                 "default); --split random for that",
    "random": "random: <ds>.inter only; RecBole's eval_args split applies (80/10/10 random by default)",
}


def _open_source(fmt, input, meta, users, reader, spec, split, valid_ratio, seed, sample_users):
    """The prepared source and the split, after checking that every option given makes sense for it."""
    if not os.path.exists(input):
        raise ConvertError(f"{input}: input not found")
    source = make_source(fmt, Inputs(input=os.fspath(input), meta=meta, users=users), reader)
    for flag, value in (("meta", meta), ("users", users)):
        if value is not None and flag not in source.uses:
            raise ConvertError(f"format {fmt!r} ({source.format_name} files) does not use --{flag} (given {value})")
    if spec.min_rating is not None and not source.has_ratings:
        raise ConvertError(f"format {fmt!r} has no ratings ({input}); --min-rating cannot be used")
    if spec.uses_dates and not source.real_timestamps:
        raise ConvertError(f"format {fmt!r} has no real timestamps ({input}); --start-date/--end-date cannot be used")
    split = split or ("benchmark" if source.presplit else "random")
    if split not in SPLIT_TEXT:
        raise ConvertError(f"--split must be one of {sorted(SPLIT_TEXT)}, not {split!r}")
    if split == "benchmark" and not source.presplit:
        raise ConvertError(f"format {fmt!r} has no published split; --split benchmark cannot be used")
    carve = source.carve_valid and split == "benchmark"
    if valid_ratio is not None and not carve:
        raise ConvertError(f"--valid-ratio is only used by the validation carve of lightgcn with --split benchmark, "
                           f"not by format {fmt!r} with --split {split}")
    if carve and valid_ratio is not None and not 0 < valid_ratio < 1:
        raise ConvertError(f"--valid-ratio must be in (0, 1), not {valid_ratio}")
    if seed is not None and sample_users is None and not carve:
        raise ConvertError("--seed is only used by --sample-users and the lightgcn validation carve; neither applies")
    if sample_users is not None and sample_users < 1:
        raise ConvertError(f"--sample-users must be a positive number of users, not {sample_users}")
    return source, split


def sample_users_mask(users, tokens, n, seed):
    """Rows of ``n`` users drawn with ``seed`` from the users present (all when fewer).

    The draw is over the users' ids in sorted order, so the sample does not depend on line order.
    """
    present = np.unique(users)
    if n >= len(present):
        return np.ones(len(users), dtype=bool)
    order = sorted(present.tolist(), key=tokens.__getitem__)
    chosen = np.random.default_rng(seed).choice(len(order), size=n, replace=False)
    return np.isin(users, np.asarray(order)[chosen])


def _text_warnings(missing, n_items, item_columns):
    """A loud warning when more than 5 % of the items got no text from the source."""
    if not item_columns or not n_items or missing / n_items <= 0.05:
        return []
    message = (f"{missing} of {n_items} items ({missing / n_items:.0%}) have no text (no row in the item/metadata "
               f"file): check --meta / the item file")
    logger.warning("%s", message)
    return [message]


def convert(fmt, input, output, *, meta=None, users=None, preset=None, min_rating=None, start_date=None,
            end_date=None, k_core=None, min_user_inter=None, min_item_inter=None, dedup=None,
            skip_bad=False, split=None, sample_users=None, valid_ratio=None, seed=None, progress=True, echo=True):
    """Convert one dataset; returns the summary dict (also written as ``<ds>.stats.json``).

    ``fmt`` is a key of :data:`~.formats.FORMATS`; ``input`` the review/interaction file or the
    dataset folder; ``output`` the dataset folder to create (its name is the dataset name).
    ``k_core`` sets both ``min_user_inter`` and ``min_item_inter`` unless those are given; filter
    arguments override the ``preset``. ``split`` is ``"benchmark"`` (the default for pre-split
    sources) or ``"random"``; ``sample_users`` keeps that many users drawn with ``seed`` (default
    2020) before de-duplication and k-core. ``echo`` prints the summary table.
    Raises :class:`ConvertError` for bad input, options the format does not use, unknown
    formats/presets and empty results; on any error nothing is left at ``output`` (an existing
    dataset there is kept). Only the converter's own files in ``output`` are ever replaced.
    """
    started = time.time()
    if k_core is not None:
        min_user_inter = k_core if min_user_inter is None else min_user_inter
        min_item_inter = k_core if min_item_inter is None else min_item_inter
    spec = resolve_filters(fmt, preset, min_rating=min_rating, start_date=start_date, end_date=end_date,
                           min_user_inter=min_user_inter, min_item_inter=min_item_inter, dedup=dedup)
    reader = LineReader(skip_bad=skip_bad, progress=progress)
    source, split = _open_source(fmt, input, meta, users, reader, spec, split, valid_ratio, seed, sample_users)
    carve = source.carve_valid and split == "benchmark"
    valid_ratio = 0.1 if valid_ratio is None else valid_ratio
    seed = 2020 if seed is None else seed
    keep = spec.dedup or source.default_dedup
    input_paths = source.input_paths()
    _check_output_location(output, input_paths)

    with AtomicOutput(output) as out:
        name = out.name
        # 1. read (rating and date filters apply here)
        row_filter = RowFilter(spec)
        buf = InteractionBuffer(row_filter, review_path=out.scratch("reviews.tsv"))
        logger.info("%s: reading %s", name, ", ".join(input_paths))
        try:
            source.read_interactions(buf)
        finally:
            buf.close()
        interaction_lines = sum(reader.lines_read.values())
        users_a, items_a, ratings_a, ts_a, splits_a = buf.arrays()
        rows_read = len(buf) + row_filter.removed_rating + row_filter.removed_date
        logger.info("%s: %d interactions read (%d bad lines skipped)", name, rows_read, reader.total_bad)

        # 2. user sample, duplicates, k-core, validation carve
        sampled = (np.ones(len(buf), dtype=bool) if sample_users is None
                   else sample_users_mask(users_a, buf.user_tokens(), sample_users, seed))
        n_sampled = int(sampled.sum())
        mask = deduplicate(users_a, items_a, ts_a, keep, mask=sampled)
        after_dedup = int(mask.sum())
        mask, rounds = k_core_filter(users_a, items_a, spec.min_user_inter, spec.min_item_inter, mask)
        n_kept = int(mask.sum())
        removed = {"rating": row_filter.removed_rating, "date": row_filter.removed_date,
                   "sample_users": len(buf) - n_sampled, "duplicates": n_sampled - after_dedup,
                   "k_core": after_dedup - n_kept}
        if n_kept == 0:
            raise ConvertError(
                f"{input}: no interactions left after filtering ({rows_read} read, {reader.total_bad} bad lines "
                f"skipped; removed: " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in removed.items()) + ")"
                + (f"; first bad line: {reader.examples[0]}" if reader.examples else ""))
        if carve:
            splits_a = carve_valid(users_a, splits_a, mask, valid_ratio, seed)

        # 3. write
        rows = np.flatnonzero(mask)
        kept_users, kept_items = np.unique(users_a[rows]), np.unique(items_a[rows])
        user_tokens, item_tokens = buf.user_tokens(), buf.item_tokens()
        columns = (np.asarray(user_tokens, dtype=object), np.asarray(item_tokens, dtype=object),
                   users_a, items_a, ratings_a, ts_a)
        split_counts = _write_inter_files(out, rows, columns, splits_a if split == "benchmark" else None)
        del columns
        logger.info("%s: writing items, users and reviews", name)
        item_columns = source.item_columns_for_output()
        missing_items = _write_table(out.path("item"), [("item_id", "token")] + item_columns,
                                     source.iter_items, [item_tokens[i] for i in kept_items.tolist()])
        user_columns = source.user_columns_for_output()
        if user_columns is not None:
            _write_table(out.path("user"), [("user_id", "token")] + user_columns,
                         source.iter_users, [user_tokens[u] for u in kept_users.tolist()])
        n_reviews = _write_reviews(out.path("reviews.jsonl"), buf, mask, (user_tokens, item_tokens))
        timestamps = ("Unix seconds (UTC)" if source.real_timestamps
                      else "position in the user's sequence (the source has order, not time)")
        with open(out.path("yaml"), "w", encoding="utf-8") as f:
            f.write(_yaml_text(name, fmt, preset, split == "benchmark", timestamps))

        # 4. summary
        n_users, n_items = len(kept_users), len(kept_items)
        pair_keys = users_a[rows].astype(np.int64) * (int(items_a.max()) + 1) + items_a[rows]
        notes = dict(source.notes)
        if carve:
            notes["valid_carved_from_train"] = f"ratio {valid_ratio}, seed {seed}"
        summary = {
            "dataset": name,
            "format": fmt,
            "preset": preset,
            "inputs": [os.path.abspath(p) for p in input_paths],
            "filters": dict(spec.as_dict(), dedup=keep,
                            **({"sample_users": sample_users, "seed": seed} if sample_users else {})),
            "users": n_users,
            "items": n_items,
            "interactions": n_kept,
            "density": stats_mod.density(n_users, n_items, n_kept),
            "splits": split_counts,
            "split": SPLIT_TEXT[split].format(how=getattr(source, "split_description", "")),
            "lines_read": dict(reader.lines_read),
            "interaction_lines_read": interaction_lines,
            "item_user_lines_read": sum(reader.lines_read.values()) - interaction_lines,
            "unreadable_after_line": dict(reader.unreadable_after),
            "bad_lines_skipped": reader.total_bad,
            "bad_lines_by_file": dict(reader.bad_lines),
            "bad_line_examples": list(reader.examples),
            "rows_read": rows_read,
            "removed": removed,
            "k_core_rounds": rounds,
            "repeat_interactions": n_kept - len(np.unique(pair_keys)),
            "timestamps": timestamps,
            "reviews": n_reviews,
            "items_without_metadata": missing_items if item_columns else 0,
            "warnings": _text_warnings(missing_items, n_items, item_columns),
            "notes": notes,
            "paper": PRESETS[preset].paper_stats if preset else None,
            "seconds": round(time.time() - started, 2),
        }
        stats_mod.write(summary, out.path("stats.json"), out.path("stats.md"))
        out.commit()
    logger.info("%s: written to %s", name, out.final)
    if echo:
        print(stats_mod.to_markdown(summary))
    return summary

"""The dataset summary: counts like the paper's dataset table, plus what every filter removed."""
import json


def density(users, items, interactions):
    return interactions / (users * items) if users and items else 0.0


def _n(x):
    return f"{x:,}"


def to_markdown(stats):
    """The summary as Markdown: the dataset table, then reading and filtering counts."""
    lines = [f"# {stats['dataset']}", ""]
    lines += [f"**WARNING: {w}**" for w in stats.get("warnings", [])]
    lines += [f"**WARNING: {path}: file truncated/corrupt after line {_n(n)}; lines 1-{_n(n)} were read, the rest "
              "of the file could not be read (its lines cannot be counted)**"
              for path, n in stats.get("unreadable_after_line", {}).items()]
    lines += [""] if len(lines) > 2 else []
    lines += [
        "| Dataset | #Users | #Items | #Interactions | Density |",
        "|---|---:|---:|---:|---:|",
        f"| {stats['dataset']} | {_n(stats['users'])} | {_n(stats['items'])} | {_n(stats['interactions'])} "
        f"| {stats['density']:.2e} |",
    ]
    if stats.get("splits"):
        lines += ["", "| Split | #Interactions |", "|---|---:|"]
        lines += [f"| {name} | {_n(n)} |" for name, n in stats["splits"].items()]
    removed = stats["removed"]
    lines += [
        "",
        "| Step | Rows |",
        "|---|---:|",
        f"| interaction input lines read | {_n(stats['interaction_lines_read'])} |",
        f"| item/user input lines read | {_n(stats['item_user_lines_read'])} |",
        f"| bad lines skipped | {_n(stats['bad_lines_skipped'])} |",
        f"| interactions read | {_n(stats['rows_read'])} |",
        f"| removed by rating filter | {_n(removed['rating'])} |",
        f"| removed by date filter | {_n(removed['date'])} |",
        f"| removed by user sample | {_n(removed['sample_users'])} |",
        f"| removed as duplicates ({stats['filters']['dedup']}) | {_n(removed['duplicates'])} |",
        f"| removed by k-core ({stats['k_core_rounds']} rounds) | {_n(removed['k_core'])} |",
        f"| kept | {_n(stats['interactions'])} |",
        "",
        f"- format: `{stats['format']}`" + (f", preset: `{stats['preset']}`" if stats.get("preset") else ""),
        f"- filters: {json.dumps(stats['filters'])}",
        f"- split: {stats['split']}",
        f"- timestamps: {stats['timestamps']}",
        f"- repeated (user, item) pairs kept: {_n(stats['repeat_interactions'])}",
        f"- reviews written: {_n(stats['reviews'])}; items without metadata: {_n(stats['items_without_metadata'])}",
    ]
    if stats.get("paper"):
        p = stats["paper"]
        lines.append(f"- paper (preset `{stats['preset']}`): {_n(p['users'])} users, {_n(p['items'])} items, "
                     f"{_n(p['interactions'])} interactions")
    for key, value in (stats.get("notes") or {}).items():
        lines.append(f"- {key.replace('_', ' ')}: {value}")
    for example in stats.get("bad_line_examples", []):
        lines.append(f"- skipped: {example}")
    return "\n".join(lines) + "\n"


def write(stats, json_path, md_path):
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(stats, f, indent=2)
        f.write("\n")
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(to_markdown(stats))

"""The default dataset, ``hnlm-demo``: a small synthetic shop with item text, generated on first use.

It ships as code, not data, so ``run_recbole_hnlm.py --model=LightGCN_HNLM`` works on a fresh
machine with no real dataset around. Its structure is made for semantic negatives to matter:
items belong to categories and brands that their titles name, users prefer a few categories and
brands, so an item near a positive in text space is a plausible, hard negative.
"""
import logging
import os

import numpy as np

from recbole_hnlm.config import DEFAULT_DATASET

CATEGORIES = {
    "running shoes": ["lightweight", "cushioned", "trail", "breathable", "racing"],
    "lipstick": ["matte", "glossy", "long-lasting", "nude", "velvet"],
    "coffee maker": ["programmable", "single-serve", "espresso", "drip", "thermal"],
    "headphones": ["wireless", "noise-cancelling", "over-ear", "studio", "sport"],
    "yoga mat": ["non-slip", "thick", "eco-friendly", "travel", "cork"],
    "face serum": ["vitamin c", "hydrating", "retinol", "brightening", "peptide"],
    "backpack": ["waterproof", "laptop", "hiking", "minimalist", "roll-top"],
    "board game": ["strategy", "party", "cooperative", "family", "deck-building"],
    "kitchen knife": ["chef", "santoku", "forged", "ceramic", "paring"],
    "desk lamp": ["led", "dimmable", "clamp", "architect", "smart"],
    "tea": ["green", "oolong", "herbal", "black", "matcha"],
    "novel": ["mystery", "fantasy", "romance", "thriller", "sci-fi"],
}
BRANDS = ["Aurora", "Borealis", "Cobalt", "Dune", "Ember", "Fjord", "Granite", "Harbor",
          "Iris", "Juniper", "Kestrel", "Lumen", "Meridian", "Nimbus", "Orchid", "Pioneer"]
COLORS = ["black", "white", "red", "blue", "green", "grey", "rose", "amber"]


def generate(out_dir, n_users=600, n_items=480, per_user=(12, 40), seed=7):
    """Write ``<name>.inter`` and ``<name>.item`` (title, categories, brand, description) into ``out_dir``.

    Deterministic for a given ``seed``; the dataset name is the folder's base name.
    """
    rng = np.random.RandomState(seed)
    name = os.path.basename(os.path.normpath(out_dir))
    cats = list(CATEGORIES)
    item_cat = rng.randint(len(cats), size=n_items)
    item_brand = rng.randint(len(BRANDS), size=n_items)
    item_style = rng.randint(5, size=n_items)
    item_color = rng.randint(len(COLORS), size=n_items)
    quality = rng.normal(size=n_items)

    rows = []
    for i in range(n_items):
        cat, brand = cats[item_cat[i]], BRANDS[item_brand[i]]
        style, color = CATEGORIES[cat][item_style[i]], COLORS[item_color[i]]
        title = f"{brand} {style} {color} {cat}"
        desc = f"A {style} {cat} by {brand} in {color}"
        rows.append((str(i + 1), title, f"Shop > {cat.title()}", brand, desc))

    # user taste: a few categories, a couple of brands and styles, plus a popularity pull; the draws are
    # kept per user and the n_items scores made one user at a time (memory O(n_items), not O(users x items))
    tastes = []
    for _ in range(n_users):
        liked_cats = rng.choice(len(cats), size=rng.randint(1, 4), replace=False)
        liked_brands = rng.choice(len(BRANDS), size=2, replace=False)
        tastes.append((liked_cats, liked_brands, rng.randint(5)))

    inter = []
    t0 = 1_600_000_000
    for u, (liked_cats, liked_brands, liked_style) in enumerate(tastes):
        score = (
            3.0 * np.isin(item_cat, liked_cats)
            + 1.0 * np.isin(item_brand, liked_brands)
            + 0.7 * (item_style == liked_style)
            + 0.6 * quality
        )
        prob = np.exp(score - score.max())
        prob /= prob.sum()
        k = rng.randint(*per_user)
        items = rng.choice(n_items, size=k, replace=False, p=prob)
        for j, i in enumerate(items):
            rating = int(np.clip(np.round(3 + score[i] / 2 + rng.normal(0, 0.5)), 1, 5))
            inter.append((str(u + 1), str(i + 1), rating, t0 + u * 1000 + j))

    tmp_dir = out_dir.rstrip("/\\") + ".tmp"
    os.makedirs(tmp_dir, exist_ok=True)
    with open(os.path.join(tmp_dir, f"{name}.inter"), "w", encoding="utf-8") as f:
        f.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
        f.writelines(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in inter)
    with open(os.path.join(tmp_dir, f"{name}.item"), "w", encoding="utf-8") as f:
        f.write("item_id:token\ttitle:token_seq\tcategories:token_seq\tbrand:token\tdescription:token_seq\n")
        f.writelines("\t".join(r) + "\n" for r in rows)
    os.makedirs(out_dir, exist_ok=True)
    for fname in os.listdir(tmp_dir):
        os.replace(os.path.join(tmp_dir, fname), os.path.join(out_dir, fname))
    os.rmdir(tmp_dir)
    return len(inter)


def ensure_demo_dataset(config):
    """Generate the demo dataset into ``config['data_path']`` if the run uses it and it is absent."""
    if config["dataset"] != DEFAULT_DATASET:
        return
    out_dir = config["data_path"]
    if os.path.isfile(os.path.join(out_dir, f"{DEFAULT_DATASET}.inter")):
        return
    n = generate(out_dir)
    logging.getLogger().info(f"generated the demo dataset {DEFAULT_DATASET} ({n} interactions) in {out_dir}")

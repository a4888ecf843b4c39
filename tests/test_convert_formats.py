"""Each source format converted from small fixture files written here, with the awkward cases."""
import gzip
import json
import os

import pytest

from recbole_hnlm.data.atomic import item_texts, read_atomic
from recbole_hnlm.data.convert import convert

DAY = 86400
T2016 = 1451606400  # 2016-01-01T00:00:00Z


def write_lines(path, lines, gz=False, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding=encoding, newline="") as f:
        for line in lines:
            f.write(line + "\n")
    return path


def jsonl(path, records, gz=False):
    return write_lines(path, [json.dumps(r) for r in records], gz=gz)


def inter_rows(out, split=None):
    suffix = f"{split}.inter" if split else "inter"
    return read_atomic(str(out / f"{out.name}.{suffix}"))


def stats(out):
    return json.loads((out / f"{out.name}.stats.json").read_text())


def reviews(out):
    path = out / f"{out.name}.reviews.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def load_with_recbole(out, load_col):
    """Load a converted folder with RecBole's own dataset class; returns the Dataset."""
    from recbole.config import Config
    from recbole.data import create_dataset

    config = Config(model="BPR", dataset=out.name, config_file_list=[str(out / f"{out.name}.yaml")],
                    config_dict={"data_path": str(out.parent), "load_col": load_col, "show_progress": False,
                                 "state": "ERROR", "checkpoint_dir": str(out.parent / "saved")})
    return create_dataset(config)


# ---------------------------------------------------------------- Amazon 2018


def amazon2018_fixture(raw):
    reviews_ = [
        {"reviewerID": "U1", "asin": "I1", "overall": 5.0, "unixReviewTime": T2016 + 5 * DAY,
         "summary": "Great", "reviewText": "Loved\tit, \"really\""},
        # the same pair earlier: 'first' keeps this one
        {"reviewerID": "U1", "asin": "I1", "overall": 4.0, "unixReviewTime": T2016, "reviewText": "first take"},
        {"reviewerID": "U1", "asin": "I2", "overall": 3.0, "unixReviewTime": T2016 + DAY},
        {"reviewerID": "U2", "asin": "I1", "overall": 5.0, "unixReviewTime": T2016 + 2 * DAY, "summary": "ok"},
        {"reviewerID": "U2", "asin": "I3", "overall": 4.0, "unixReviewTime": T2016 + 3 * DAY},
        {"reviewerID": "U3", "asin": "I2", "overall": "4.0", "reviewTime": "01 02, 2016", "reviewText": "old"},
    ]
    meta = [
        {"asin": "I1", "title": "Puzzle \"Deluxe\"\t1000 pieces", "category": ["Toys & Games", "Puzzles"],
         "brand": "Acme", "description": ["Fun for\nall.", "<b>Bold</b> claims"], "price": "$12.99"},
        {"asin": "I9", "title": "not reviewed"},
        {"asin": "I1", "title": "duplicate meta line"},
        {"asin": "I2", "title": "Blocks", "category": [], "price": ""},
    ]
    return (jsonl(raw / "Toys.json.gz", reviews_, gz=True), jsonl(raw / "meta_Toys.json.gz", meta, gz=True))


def test_amazon2018_gzip_duplicates_missing_meta(tmp_path):
    rev, meta = amazon2018_fixture(tmp_path / "raw")
    out = tmp_path / "atomic_data" / "toys"
    summary = convert("amazon2018", str(rev), str(out), meta=str(meta), echo=False, progress=False)

    inter = inter_rows(out)
    assert list(inter.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert len(inter) == 5 and summary["removed"]["duplicates"] == 1
    u1i1 = inter[(inter.user_id == "U1") & (inter.item_id == "I1")]
    assert u1i1.timestamp.tolist() == [str(T2016)] and u1i1.rating.tolist() == ["4"]
    assert inter[inter.user_id == "U3"].timestamp.tolist() == [str(T2016 + DAY)]  # from reviewTime

    item = read_atomic(str(out / "toys.item")).set_index("item_id")
    assert sorted(item.index) == ["I1", "I2", "I3"]  # I9 is not reviewed; I3 has no metadata
    assert item.loc["I1", "title"] == "Puzzle ''Deluxe'' 1000 pieces"
    assert item.loc["I1", "categories"] == "Toys & Games, Puzzles"
    assert item.loc["I1", "description"] == "Fun for all. Bold claims"
    assert item.loc["I1", "price"] == "12.99" and item.loc["I1", "brand"] == "Acme"
    assert item.loc["I3", "title"] == "" and item.loc["I2", "price"] == ""
    assert summary["items_without_metadata"] == 1
    assert summary["notes"]["meta_duplicate_lines"] == 1

    revs = reviews(out)
    # the later U1/I1 review was dropped as a duplicate; rows without text or summary have none
    assert [(r["user_id"], r["item_id"], r["text"]) for r in revs] == [
        ("U1", "I1", "first take"), ("U2", "I1", ""), ("U3", "I2", "old")]
    assert revs[1]["summary"] == "ok" and revs[0]["timestamp"] == T2016 and revs[0]["rating"] == 4.0

    yaml_text = (out / "toys.yaml").read_text()
    assert "inter: [user_id, item_id, rating, timestamp]" in yaml_text
    assert "benchmark_filename" not in yaml_text
    assert (out / "toys.stats.md").read_text().startswith("# toys")
    assert summary["users"] == 3 and summary["items"] == 3 and summary["interactions"] == 5
    assert summary["density"] == pytest.approx(5 / 9)
    assert item_texts(str(out))["I1"].startswith("Puzzle ''Deluxe''")


def test_amazon_folder_input_finds_reviews_and_meta(tmp_path):
    amazon2018_fixture(tmp_path / "raw")
    summary = convert("amazon2018", str(tmp_path / "raw"), str(tmp_path / "out" / "toys"), echo=False, progress=False)
    assert summary["interactions"] == 5 and summary["items_without_metadata"] == 1
    assert [os.path.basename(p) for p in summary["inputs"]] == ["Toys.json.gz", "meta_Toys.json.gz"]


def test_amazon_output_loads_in_recbole_with_item_features(tmp_path):
    rev, meta = amazon2018_fixture(tmp_path / "raw")
    out = tmp_path / "atomic_data" / "toys"
    convert("amazon2018", str(rev), str(out), meta=str(meta), echo=False, progress=False)
    ds = load_with_recbole(out, {"inter": ["user_id", "item_id", "rating", "timestamp"],
                                 "item": ["item_id", "title", "categories", "brand", "price"]})
    assert ds.inter_num == 5 and ds.user_num == 4 and ds.item_num == 4  # RecBole adds [PAD]
    assert set(ds.item_feat.columns) >= {"item_id", "title", "categories", "brand", "price"}


def test_amazon_keep_last_and_all(tmp_path):
    rev, meta = amazon2018_fixture(tmp_path / "raw")
    last = convert("amazon2018", str(rev), str(tmp_path / "o" / "last"), meta=str(meta), dedup="last",
                   echo=False, progress=False)
    inter = inter_rows(tmp_path / "o" / "last")
    assert inter[(inter.user_id == "U1") & (inter.item_id == "I1")].rating.tolist() == ["5"]
    assert last["removed"]["duplicates"] == 1
    every = convert("amazon2018", str(rev), str(tmp_path / "o" / "all"), dedup="all", echo=False, progress=False)
    assert every["interactions"] == 6 and every["repeat_interactions"] == 1


# ---------------------------------------------------------------- Amazon 2014


def test_amazon2014_python_dict_metadata(tmp_path):
    raw = tmp_path / "raw"
    rev = jsonl(raw / "reviews_Toys.json", [
        {"reviewerID": "A", "asin": "0001", "overall": 5.0, "unixReviewTime": T2016, "summary": "s", "reviewText": "t"},
        {"reviewerID": "B", "asin": "0002", "overall": 2.0, "unixReviewTime": T2016},
    ])
    meta = write_lines(raw / "meta_Toys.json.gz", [
        "{'asin': '0001', 'title': \"Kid's puzzle\", 'categories': [['Toys & Games', 'Puzzles'], "
        "['Toys & Games', 'Kids']], 'price': 9.5, 'description': 'A\\tpuzzle', 'salesRank': {'Toys': 5}}",
        "{'asin': '0002', 'brand': u'Acme', 'related': {'also_bought': ['0001']}}",
    ], gz=True)
    out = tmp_path / "out" / "toys14"
    summary = convert("amazon2014", str(rev), str(out), meta=str(meta), echo=False, progress=False)
    item = read_atomic(str(out / "toys14.item")).set_index("item_id")
    assert item.loc["0001", "title"] == "Kid's puzzle"
    assert item.loc["0001", "categories"] == "Toys & Games, Puzzles, Kids"
    assert item.loc["0001", "price"] == "9.5" and item.loc["0001", "description"] == "A puzzle"
    assert item.loc["0002", "brand"] == "Acme"
    assert summary["interactions"] == 2 and summary["items_without_metadata"] == 0


# ---------------------------------------------------------------- Amazon 2023


def test_amazon2023_jsonl_milliseconds(tmp_path):
    raw = tmp_path / "raw"
    rev = jsonl(raw / "Electronics.jsonl.gz", [
        {"user_id": "AE1", "parent_asin": "P1", "asin": "C1", "rating": 5.0, "timestamp": 1488687728923,
         "title": "Works", "text": "Good cable"},
        {"user_id": "AE1", "parent_asin": "P2", "rating": 2.0, "timestamp": 1488687728000, "title": "", "text": ""},
        {"user_id": "AE2", "parent_asin": "P1", "rating": 3.0, "timestamp": 1262304000000, "text": "x"},  # 2010-01-01
        {"user_id": "AE3", "parent_asin": "P1", "rating": 4.0, "timestamp": 1262303999999, "text": "y"},  # before
    ], gz=True)
    meta = jsonl(raw / "meta_Electronics.jsonl.gz", [
        {"parent_asin": "P1", "title": "USB cable", "main_category": "All Electronics", "store": "Anker",
         "categories": ["Electronics", "Cables"], "features": ["6 ft", "braided"], "description": ["Fast."],
         "price": None},
    ], gz=True)
    out = tmp_path / "out" / "elec"
    summary = convert("amazon2023", str(rev), str(out), meta=str(meta), preset="electronics2023",
                      echo=False, progress=False)
    inter = inter_rows(out)
    assert sorted(zip(inter.user_id, inter.item_id)) == [("AE1", "P1"), ("AE2", "P1")]
    assert inter[inter.user_id == "AE1"].timestamp.tolist() == ["1488687728.923"]
    assert summary["removed"] == {"rating": 1, "date": 1, "sample_users": 0, "duplicates": 0, "k_core": 0}
    item = read_atomic(str(out / "elec.item")).set_index("item_id")
    assert item.loc["P1", "brand"] == "Anker" and item.loc["P1", "features"] == "6 ft braided"
    assert item.loc["P1", "price"] == ""
    assert [r["summary"] for r in reviews(out)] == ["Works", ""]


# ---------------------------------------------------------------- Yelp


def yelp_fixture(folder):
    """12 users x 12 businesses minus the diagonal (11 each), plus boundary cases on the diagonal."""
    recs = []

    def review(u, b, date, stars=5):
        recs.append({"review_id": f"r{len(recs)}", "user_id": f"u{u}", "business_id": f"b{b}",
                     "stars": stars, "date": date, "text": f"review {u}-{b}"})

    for u in range(12):
        for b in range(12):
            if u != b:
                review(u, b, "2016-06-01 12:00:00")
    review(0, 0, "2015-01-01 00:00:00")  # kept: start is inclusive
    review(1, 1, "2014-12-31 23:59:59")  # removed: before start
    review(2, 2, "2017-12-31 23:59:59")  # kept
    review(3, 3, "2018-01-01 00:00:00")  # removed: end is exclusive
    review(4, 4, "2016-01-01 00:00:00", stars=3)  # removed: rating
    review(5, 5, "2016-01-01 00:00:00", stars=4)  # kept
    review(6, 7, "2017-01-01 00:00:00")  # duplicate of a grid pair (later): removed
    # k-core cascade: 'lonely' has 9 reviews (< 10); business 'bx' has 10 reviewers incl. lonely,
    # so it survives round 1 and falls under 10 only after lonely is gone
    for b in list(range(8)) + ["x"]:
        review("lonely", b, "2016-02-02 00:00:00")
    for u in range(9):
        review(u, "x", "2016-02-02 00:00:00")
    jsonl(folder / "yelp_academic_dataset_review.json", recs)
    jsonl(folder / "yelp_academic_dataset_business.json", [
        {"business_id": f"b{b}", "name": f"Place {b}", "city": "Las Vegas", "state": "NV",
         "categories": "Restaurants, Indian,  Nightlife" if b == 0 else None}
        for b in list(range(12)) + ["x"]
    ])
    jsonl(folder / "yelp_academic_dataset_user.json", [
        {"user_id": f"u{u}", "name": "N", "review_count": 12, "yelping_since": "2012-01-01 00:00:00",
         "fans": 1, "average_stars": 4.5, "friends": "u1, u2"} for u in range(12)
    ])
    return folder


def test_yelp_preset_boundaries_and_k_core_cascade(tmp_path):
    folder = yelp_fixture(tmp_path / "yelp")
    out = tmp_path / "out" / "yelp2018"
    summary = convert("yelp", str(folder), str(out), preset="yelp2018", echo=False, progress=False)
    inter = inter_rows(out)
    pairs = set(zip(inter.user_id, inter.item_id))
    assert ("u0", "b0") in pairs and ("u2", "b2") in pairs and ("u5", "b5") in pairs
    assert not {("u1", "b1"), ("u3", "b3"), ("u4", "b4")} & pairs
    assert not any(u == "ulonely" for u, _ in pairs) and not any(i == "bx" for _, i in pairs)
    assert summary["removed"] == {"rating": 1, "date": 2, "sample_users": 0, "duplicates": 1, "k_core": 18}
    assert summary["k_core_rounds"] >= 3
    assert (summary["users"], summary["items"], summary["interactions"]) == (12, 12, 135)
    item = read_atomic(str(out / "yelp2018.item")).set_index("item_id")
    assert item.loc["b0", "categories"] == "Restaurants, Indian, Nightlife" and item.loc["b0", "city"] == "Las Vegas"
    user = read_atomic(str(out / "yelp2018.user")).set_index("user_id")
    assert len(user) == 12 and user.loc["u0", "average_stars"] == "4.5"
    assert len(reviews(out)) == 135


# ---------------------------------------------------------------- UniSRec


def unisrec_fixture(folder, window=3):
    """Two users; A's 7-item sequence is cut by a 3-item history window, B repeats an item."""
    seqs = {"0": ["0", "1", "2", "3", "4", "5", "6"], "1": ["2", "0", "2"]}
    header = "user_id:token\titem_id_list:token_seq\titem_id:token"
    files = {"train": [header], "valid": [header], "test": [header]}
    for u, seq in seqs.items():
        n = len(seq)
        for pos in range(n - 3, 0, -1):  # the source lists train targets last-to-first
            files["train"].append(f"{u}\t{' '.join(seq[max(0, pos - window):pos])}\t{seq[pos]}")
        files["valid"].append(f"{u}\t{' '.join(seq[max(0, n - 2 - window):n - 2])}\t{seq[n - 2]}")
        files["test"].append(f"{u}\t{' '.join(seq[max(0, n - 1 - window):n - 1])}\t{seq[n - 1]}")
    for name, lines in files.items():
        write_lines(folder / f"Sci.{name}.inter", lines)
    write_lines(folder / "Sci.user2index", ["RA\t0", "RB\t1"])
    write_lines(folder / "Sci.item2index", [f"ASIN{i}\t{i}" for i in range(7)])
    write_lines(folder / "Sci.text", ["item_id:token\ttext:token_seq"]
                + [f"ASIN{i}\tItem {i}. Cat. Brand. " for i in range(6)])
    return folder


def test_unisrec_rebuilds_cut_sequences_and_writes_benchmark_files(tmp_path):
    folder = unisrec_fixture(tmp_path / "sci")
    out = tmp_path / "out" / "sci"
    summary = convert("unisrec", str(folder), str(out), echo=False, progress=False)
    assert summary["interactions"] == 10 and summary["notes"]["history_items_cut_by_source_window"] == 3
    assert summary["repeat_interactions"] == 1 and summary["filters"]["dedup"] == "all"
    assert summary["splits"] == {"train": 6, "valid": 2, "test": 2}
    inter = inter_rows(out)
    ra = inter[inter.user_id == "RA"]
    assert ra.item_id.tolist() == [f"ASIN{i}" for i in range(7)]
    assert ra.timestamp.tolist() == [str(i) for i in range(7)]
    test = inter_rows(out, "test")
    assert sorted(zip(test.user_id, test.item_id)) == [("RA", "ASIN6"), ("RB", "ASIN2")]
    valid = inter_rows(out, "valid")
    assert sorted(zip(valid.user_id, valid.item_id)) == [("RA", "ASIN5"), ("RB", "ASIN0")]
    assert "benchmark_filename: [train, valid, test]" in (out / "sci.yaml").read_text()
    item = read_atomic(str(out / "sci.item")).set_index("item_id")
    assert item.loc["ASIN1", "text"] == "Item 1. Cat. Brand." and item.loc["ASIN6", "text"] == ""
    assert summary["items_without_metadata"] == 1
    ds = load_with_recbole(out, {"inter": ["user_id", "item_id", "rating", "timestamp"]})
    train, valid_ds, test_ds = ds.build()
    assert (len(train), len(valid_ds), len(test_ds)) == (6, 2, 2)


def test_unisrec_rows_that_do_not_chain(tmp_path):
    from recbole_hnlm.data.convert import ConvertError

    folder = unisrec_fixture(tmp_path / "sci")
    lines = (folder / "Sci.test.inter").read_text().splitlines()
    lines[1] = "0\t9 9 9\t6"  # A's test history no longer continues A's sequence
    write_lines(folder / "Sci.test.inter", lines)
    with pytest.raises(ConvertError, match="does not continue"):
        convert("unisrec", str(folder), str(tmp_path / "out" / "x"), echo=False, progress=False)
    summary = convert("unisrec", str(folder), str(tmp_path / "out" / "x"), skip_bad=True, echo=False, progress=False)
    assert summary["users"] == 1 and summary["bad_lines_skipped"] == 1


# ---------------------------------------------------------------- P5


def test_p5_sequences_and_quoted_item_table(tmp_path):
    folder = tmp_path / "beauty"
    write_lines(folder / "user_sequence.txt", ["UA I1 I2 I3", "UB I2 I1", "UC I3"])
    item = folder / "Amazon_Beauty.item"
    item.write_text(
        "item_id:token\ttitle:token\tsales_type:token\tsales_rank:float\tcategories:token_seq\tprice:float\tbrand:token\n"
        "I1\t\"TheraNeem Cream 2 oz Cream \nVanilla\"\tBeauty\t10486.0\t'Beauty', 'Skin Care'\t11.28\tOrganix\n"
        "I2\t\"- \t DESIGNER SKIN\"\tToys & Games\t\t\"'Beauty', \"\"Women's\"\", 'Eau de Parfum'\"\t\tDesigner Skin\n"
        "I3\tPlain\tBeauty &amp; Co\t5.0\t'Beauty'\t5\t\n"
        "I4\tUnused\t\t\t\t\t\n",
        encoding="utf-8")
    out = tmp_path / "out" / "beauty"
    summary = convert("p5", str(folder), str(out), echo=False, progress=False)
    assert (summary["users"], summary["items"], summary["interactions"]) == (3, 3, 6)
    inter = inter_rows(out)
    assert inter[inter.user_id == "UA"].timestamp.tolist() == ["0", "1", "2"]
    header = (out / "beauty.item").read_text().splitlines()[0]
    assert header == ("item_id:token\ttitle:token_seq\tsales_type:token\tsales_rank:float\t"
                      "categories:token_seq\tprice:float\tbrand:token")
    df = read_atomic(str(out / "beauty.item")).set_index("item_id")
    assert len(df) == 3
    assert df.loc["I1", "title"] == "TheraNeem Cream 2 oz Cream Vanilla"
    assert df.loc["I2", "title"] == "- DESIGNER SKIN"
    assert df.loc["I2", "categories"] == "Beauty, Women's, Eau de Parfum"
    assert df.loc["I3", "sales_type"] == "Beauty & Co" and df.loc["I3", "sales_rank"] == "5"
    assert df.loc["I1", "price"] == "11.28" and df.loc["I2", "price"] == ""
    ds = load_with_recbole(out, {"inter": ["user_id", "item_id"], "item": ["item_id", "title", "categories", "price"]})
    assert ds.item_num == 4


# ---------------------------------------------------------------- LightGCN


def test_lightgcn_carves_valid_from_train(tmp_path):
    folder = tmp_path / "gowalla"
    write_lines(folder / "train.txt", ["0 0 1 2 3 4 5 6 7 8 9", "1 2 3", "2 5"])
    write_lines(folder / "test.txt", ["0 10 11", "1 4", "2"])
    out = tmp_path / "out" / "gw"
    summary = convert("lightgcn", str(folder), str(out), echo=False, progress=False)
    splits = summary["splits"]
    assert splits["train"] + splits["valid"] == 13 and splits["test"] == 3
    valid = inter_rows(out, "valid")
    assert valid.groupby("user_id").size().to_dict() == {"0": 1, "1": 1}
    train = inter_rows(out, "train")
    assert set(zip(train.user_id, train.item_id)).isdisjoint(zip(valid.user_id, valid.item_id))
    assert train[train.user_id == "2"].item_id.tolist() == ["5"]
    merged = inter_rows(out)
    assert len(merged) == 16 and merged[merged.user_id == "0"].timestamp.tolist()[-2:] == ["10", "11"]
    assert "valid_carved_from_train" in summary["notes"]
    again = convert("lightgcn", str(folder), str(tmp_path / "out" / "gw2"), echo=False, progress=False)
    assert inter_rows(tmp_path / "out" / "gw2", "valid").equals(valid)
    assert again["splits"] == splits
    assert list(read_atomic(str(out / "gw.item")).columns) == ["item_id"]


# ---------------------------------------------------------------- MovieLens


def test_movielens_100k_raw(tmp_path):
    folder = tmp_path / "ml-100k"
    write_lines(folder / "u.data", ["1\t10\t4\t881250949", "2\t10\t3\t881250950", "1\t20\t5\t881250951"])
    flags = ["0"] * 19
    comedy = list(flags)
    comedy[5] = "1"
    comedy[8] = "1"
    write_lines(folder / "u.item", [
        "|".join(["10", "Café Society (1995)", "01-Jan-1995", "", "http://x"] + comedy),
        "|".join(["20", "Untitled", "01-Jan-1996", "", "http://y"] + flags),
    ], encoding="latin-1")
    write_lines(folder / "u.user", ["1|24|M|technician|85711", "2|53|F|other|94043"])
    out = tmp_path / "out" / "ml"
    summary = convert("movielens", str(folder), str(out), echo=False, progress=False)
    assert summary["interactions"] == 3 and summary["timestamps"].startswith("Unix")
    item = read_atomic(str(out / "ml.item")).set_index("item_id")
    assert item.loc["10", "title"] == "Café Society" and item.loc["10", "release_year"] == "1995"
    assert item.loc["10", "categories"] == "Comedy Drama" and item.loc["20", "release_year"] == "1996"
    user = read_atomic(str(out / "ml.user")).set_index("user_id")
    assert user.loc["2", "occupation"] == "other"


def test_movielens_1m_dat(tmp_path):
    folder = tmp_path / "ml-1m"
    write_lines(folder / "ratings.dat", ["1::1193::5::978300760", "1::661::3::978302109", "2::1193::4::978298413"])
    write_lines(folder / "movies.dat", ["1193::One Flew Over the Cuckoo's Nest (1975)::Drama",
                                        "661::James and the Giant Peach (1996)::Animation|Children's|Musical"],
                encoding="latin-1")
    write_lines(folder / "users.dat", ["1::F::1::10::48067", "2::M::56::16::70072"])
    out = tmp_path / "out" / "ml1m"
    summary = convert("movielens", str(folder), str(out), min_rating=4, echo=False, progress=False)
    assert summary["interactions"] == 2 and summary["removed"]["rating"] == 1
    item = read_atomic(str(out / "ml1m.item")).set_index("item_id")
    assert list(item.index) == ["1193"] and item.loc["1193", "release_year"] == "1975"
    user = read_atomic(str(out / "ml1m.user")).set_index("user_id")
    assert user.loc["2", "age"] == "56" and user.loc["1", "gender"] == "F"


def test_atomic_passthrough_keeps_columns(tmp_path):
    folder = tmp_path / "src"
    write_lines(folder / "mini.inter", ["user_id:token\titem_id:token\trating:float\ttimestamp:float\textra:token",
                                        "1\t7\t3\t100\tx", "2\t7\t5\t101\ty", "2\t8\t1\t102\tz"])
    write_lines(folder / "mini.item", ["item_id:token\tmovie_title:token_seq\tclass:token_seq",
                                       "7\t\"Quoted\ttitle\"\tDrama", "8\tOther\tComedy", "9\tUnused\tWar"])
    out = tmp_path / "out" / "mini"
    summary = convert("atomic", str(folder), str(out), min_rating=3, echo=False, progress=False)
    assert summary["interactions"] == 2 and summary["items"] == 1
    item = read_atomic(str(out / "mini.item"))
    assert list(item.columns) == ["item_id", "movie_title", "class"]
    assert item.movie_title.tolist() == ["Quoted title"]
    assert not (out / "mini.user").exists()
    # the movielens format hands RecBole atomic folders to the same code
    summary2 = convert("movielens", str(folder), str(tmp_path / "out" / "mini2"), echo=False, progress=False)
    assert summary2["interactions"] == 3


def test_atomic_without_timestamp_or_rating_uses_positions(tmp_path):
    folder = tmp_path / "src"
    write_lines(folder / "seq.inter", ["user_id:token\titem_id:token", "a\tx", "a\ty", "b\tx"])
    out = tmp_path / "out" / "seq"
    convert("atomic", str(folder), str(out), echo=False, progress=False)
    inter = inter_rows(out)
    assert inter.timestamp.tolist() == ["0", "1", "0"] and set(inter.rating) == {"1"}
    from recbole_hnlm.data.convert import ConvertError

    with pytest.raises(ConvertError, match="no real timestamps"):
        convert("atomic", str(folder), str(tmp_path / "out" / "seq2"), start_date="2015-01-01", echo=False)
    with pytest.raises(ConvertError, match="no ratings"):
        convert("atomic", str(folder), str(tmp_path / "out" / "seq2"), min_rating=4, echo=False)
    assert not os.path.exists(tmp_path / "out" / "seq2")

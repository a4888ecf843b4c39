"""Unit tests of the converters' shared pieces: filters, presets, splits, text cleaning."""
import itertools

import numpy as np
import pytest

from recbole_hnlm.data.convert import ConvertError, FilterSpec, PRESETS
from recbole_hnlm.data.convert.filters import RowFilter, deduplicate, k_core, parse_utc
from recbole_hnlm.data.convert.interactions import TRAIN, VALID
from recbole_hnlm.data.convert.splits import carve_valid
from recbole_hnlm.data.convert.text import bad_id_reason, clean_text, format_float, join_texts, parse_price

JAN_1_2015 = 1420070400  # 2015-01-01T00:00:00Z
JAN_1_2018 = 1514764800  # 2018-01-01T00:00:00Z


def test_dates_are_utc_midnight():
    assert parse_utc("2015-01-01") == JAN_1_2015
    assert parse_utc("2018-01-01") == JAN_1_2018
    assert parse_utc("2015-01-01T00:00:00Z") == JAN_1_2015
    assert parse_utc("2015-01-01T02:00:00+02:00") == JAN_1_2015
    with pytest.raises(ConvertError, match="not a date"):
        parse_utc("01/01/2015")


def test_date_range_is_start_inclusive_end_exclusive():
    f = RowFilter(FilterSpec(start_date="2015-01-01", end_date="2018-01-01"))
    assert f.accept(5, JAN_1_2015)
    assert not f.accept(5, JAN_1_2015 - 1)
    assert f.accept(5, JAN_1_2018 - 1)
    assert not f.accept(5, JAN_1_2018)
    assert f.removed_date == 2 and f.removed_rating == 0


def test_rating_threshold_is_inclusive_and_counted_first():
    f = RowFilter(FilterSpec(min_rating=4, start_date="2015-01-01"))
    assert f.accept(4.0, JAN_1_2015)
    assert not f.accept(3.999, JAN_1_2015)
    assert not f.accept(3.0, 0)  # fails both: counted once, as rating
    assert not f.accept(float("nan"), JAN_1_2015)
    assert (f.removed_rating, f.removed_date) == (3, 0)


def test_filter_spec_validation():
    with pytest.raises(ConvertError, match="empty date range"):
        FilterSpec(start_date="2018-01-01", end_date="2018-01-01")
    with pytest.raises(ConvertError, match="dedup"):
        FilterSpec(dedup="newest")
    with pytest.raises(ConvertError, match="non-negative"):
        FilterSpec(min_user_inter=-1)


def test_dedup_first_last_all():
    users = np.array([0, 0, 0, 1, 0], dtype=np.int32)
    items = np.array([5, 5, 6, 5, 5], dtype=np.int32)
    ts = np.array([30.0, 10.0, 20.0, 10.0, 10.0])
    first = deduplicate(users, items, ts, "first")
    last = deduplicate(users, items, ts, "last")
    # (0, 5) at rows 0 (t=30), 1 (t=10), 4 (t=10): first = earliest, ties -> input order
    assert first.tolist() == [False, True, True, True, False]
    assert last.tolist() == [True, False, True, True, False]
    assert deduplicate(users, items, ts, "all").all()
    # rows outside the mask stay out and do not take part
    mask = np.array([True, False, True, True, True])
    assert deduplicate(users, items, ts, "first", mask).tolist() == [False, False, True, True, True]


def _brute_force_core(pairs, k_user, k_item):
    pairs = list(pairs)
    while True:
        uc, ic = {}, {}
        for u, i in pairs:
            uc[u] = uc.get(u, 0) + 1
            ic[i] = ic.get(i, 0) + 1
        kept = [(u, i) for u, i in pairs if uc[u] >= k_user and ic[i] >= k_item]
        if kept == pairs:
            return kept
        pairs = kept


def test_k_core_cascade_needs_several_rounds():
    # a 3x3 complete block (2-core) plus a chain hanging off it: removing the chain's end
    # user drops its item below 2, which drops the next user, and so on
    block = [(u, i) for u in range(3) for i in range(3)]
    chain = [(3, 2), (3, 3), (4, 3), (4, 4), (5, 4)]
    pairs = block + chain
    users = np.array([p[0] for p in pairs], dtype=np.int32)
    items = np.array([p[1] for p in pairs], dtype=np.int32)
    mask, rounds = k_core(users, items, 2, 2)
    kept = [p for p, m in zip(pairs, mask) if m]
    assert kept == block == _brute_force_core(pairs, 2, 2)
    assert rounds >= 3


def test_k_core_matches_definition_on_random_graphs():
    rng = np.random.default_rng(0)
    for trial in range(20):
        n = 300
        users = rng.integers(0, 40, n).astype(np.int32)
        items = rng.integers(0, 30, n).astype(np.int32)
        ku, ki = int(rng.integers(1, 8)), int(rng.integers(1, 8))
        mask, _ = k_core(users, items, ku, ki)
        expected = _brute_force_core(list(zip(users.tolist(), items.tolist())), ku, ki)
        assert list(itertools.compress(zip(users.tolist(), items.tolist()), mask)) == expected
        if mask.any():
            assert np.bincount(users[mask]).max() >= ku
            assert np.bincount(users[mask])[np.unique(users[mask])].min() >= ku
            assert np.bincount(items[mask])[np.unique(items[mask])].min() >= ki


def test_k_core_disabled_is_identity():
    users = np.array([0, 1], dtype=np.int32)
    items = np.array([0, 1], dtype=np.int32)
    mask, rounds = k_core(users, items, 0, 0)
    assert mask.all() and rounds == 0


def test_carve_valid_per_user():
    sizes = [1, 2, 5, 10, 31]
    users = np.repeat(np.arange(len(sizes)), sizes).astype(np.int32)
    splits = np.zeros(len(users), dtype=np.int8)
    mask = np.ones(len(users), dtype=bool)
    out = carve_valid(users, splits, mask, 0.1, seed=7)
    per_user = [int((out[users == u] == VALID).sum()) for u in range(len(sizes))]
    assert per_user == [0, 1, 1, 1, 3]
    assert np.array_equal(out, carve_valid(users, splits, mask, 0.1, seed=7))
    assert not np.array_equal(out, carve_valid(users, splits, mask, 0.1, seed=8))
    # rows already in test, or removed, are never carved
    splits2 = splits.copy()
    splits2[users == 4] = 2
    out2 = carve_valid(users, splits2, mask, 0.1, seed=7)
    assert (out2[users == 4] == 2).all()
    assert set(np.unique(out)) <= {TRAIN, VALID}


def test_presets_follow_the_paper_readme():
    toys, cds, yelp, elec = (PRESETS[n] for n in ("toys", "cds", "yelp2018", "electronics2023"))
    assert toys.spec() == FilterSpec(4.0, "2015-01-01", "2018-01-01", 10, 10, "first")
    assert cds.spec() == FilterSpec(4.0, "2014-01-01", "2016-01-01", 10, 10, "first")
    assert yelp.spec() == FilterSpec(4.0, "2015-01-01", "2018-01-01", 10, 10, "first")
    assert elec.spec() == FilterSpec(3.0, "2010-01-01", "2018-01-01", 0, 0, "first")
    # explicit options override the preset
    assert toys.spec(min_user_inter=5, dedup="all").min_user_inter == 5
    assert toys.spec(min_user_inter=5).min_item_inter == 10


def test_clean_text_makes_atomic_safe_values():
    assert clean_text('a\tb\nc\r\nd') == "a b c d"
    assert clean_text('12" ruler') == "12'' ruler"
    assert clean_text("Home &amp; Kitchen") == "Home & Kitchen"
    assert clean_text("<b>bold</b> text<br/>") == "bold text"
    assert clean_text("line\u2028sep\x85nel\x00nul\x1fus") == "line sep nelnulus"
    assert clean_text(None) == "" and clean_text(3.5) == "3.5"
    assert join_texts([["Toys", "Games"], ["Toys", "Puzzles"]]) == "Toys, Games, Puzzles"


def test_numbers():
    assert parse_price("$12.99") == 12.99
    assert parse_price("$1,299.00 - $1,499.00") == 1299.0
    assert parse_price(7) == 7.0
    assert parse_price("") is None and parse_price("<script>" + "x" * 100) is None
    assert format_float(5.0) == "5" and format_float(4.5) == "4.5" and format_float(None) == ""
    assert format_float(1588687728.923) == "1588687728.923"


def test_bad_ids():
    assert bad_id_reason("A1B2") is None
    assert bad_id_reason("") and bad_id_reason('a"b') and bad_id_reason("a\tb") and bad_id_reason(" a")

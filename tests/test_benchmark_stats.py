"""Statistics and analyses of the benchmark suite, on hand-computed cases."""
import math

import numpy as np
import pytest
import torch

from recbole_hnlm.benchmark.analyses import false_negative_flags, popularity_groups, ranking_metrics
from recbole_hnlm.benchmark.stats import (
    best_baseline,
    fmt_mean_std,
    fmt_pvalue,
    improvement,
    mean_std,
    paired_ttest,
    significance_mark,
)


# ----- paired t-test ------------------------------------------------------------------------------
def test_paired_ttest_hand_computed():
    # differences 0.02, 0.01, 0.02: mean 1/60, sd 0.0057735, se = sd / sqrt(3) = 1/300 -> t = 5.0
    # df = 2: P(T > t) = (1 - t / sqrt(t^2 + 2)) / 2 -> two-sided p = 1 - 5 / sqrt(27)
    target = {1: 0.30, 2: 0.32, 3: 0.31}
    baseline = {1: 0.28, 2: 0.31, 3: 0.29}
    t, p, n = paired_ttest(target, baseline)
    assert n == 3
    assert t == pytest.approx(5.0, rel=1e-9)
    assert p == pytest.approx(1 - 5 / math.sqrt(27), rel=1e-9)
    assert significance_mark(p) == "*"


def test_paired_ttest_pairs_by_seed_and_drops_unpaired():
    # seed 4 has no partner and seed 3 is NaN in the baseline: only seeds 1 and 2 pair up
    target = {1: 0.5, 2: 0.7, 3: 0.9, 4: 0.1}
    baseline = {2: 0.4, 1: 0.4, 3: float("nan")}
    t, p, n = paired_ttest(target, baseline)
    assert n == 2
    # differences 0.1 and 0.3: mean 0.2, sd 0.141421, se 0.1 -> t = 2.0; df = 1: p = 1 - 2 atan(2) / pi
    assert t == pytest.approx(2.0)
    assert p == pytest.approx(1 - 2 * math.atan(2.0) / math.pi)


def test_paired_ttest_undefined_cases():
    assert math.isnan(paired_ttest({1: 0.3}, {1: 0.2})[1])                       # one pair
    t, p, n = paired_ttest({1: 0.3, 2: 0.4}, {1: 0.2, 2: 0.3})                   # constant difference
    assert n == 2 and math.isnan(t) and math.isnan(p)
    assert fmt_pvalue(p) == "-" and significance_mark(p) == ""


# ----- mean / std, improvement, best baseline ------------------------------------------------------
def test_mean_std():
    mean, std, n = mean_std([0.1, 0.2, 0.3, None, float("nan")])
    assert (mean, n) == (pytest.approx(0.2), 3)
    assert std == pytest.approx(0.1)  # sample std, ddof = 1
    mean, std, n = mean_std([0.25])
    assert mean == 0.25 and math.isnan(std) and n == 1
    assert fmt_mean_std(0.25, std) == "0.2500"
    assert fmt_mean_std(0.25, 0.01) == "0.2500 ± 0.0100"
    assert math.isnan(mean_std([])[0])


def test_improvement():
    assert improvement(0.33, 0.30) == pytest.approx(10.0)
    assert improvement(0.27, 0.30) == pytest.approx(-10.0)
    assert math.isnan(improvement(0.3, 0.0))
    assert math.isnan(improvement(float("nan"), 0.3))
    assert math.isnan(improvement(0.3, None))


def test_best_baseline():
    means = {"LightGCN": 0.20, "DNS": 0.30, "MixGCF": float("nan"), "AHNS": 0.30}
    assert best_baseline(means) == "DNS"                  # tie with AHNS: the first listed wins
    assert best_baseline(means, bigger=False) == "LightGCN"
    assert best_baseline({"a": float("nan")}) is None
    assert best_baseline({}) is None


# ----- popularity groups ----------------------------------------------------------------------------
def test_popularity_groups_hand_computed():
    # 20 items (ids 1..20, index 0 is padding): popular = round(0.05 * 20) = 1 item,
    # unpopular = round(0.8 * 20) = 16 items, normal = the 3 left.
    counts = np.zeros(21, dtype=int)
    counts[1:] = [5, 50, 9, 9, 0, 1, 2, 3, 4, 7, 8, 9, 0, 0, 1, 1, 2, 2, 3, 30]
    labels = popularity_groups(counts)
    assert labels[0] == ""
    assert [i for i in range(1, 21) if labels[i] == "popular"] == [2]          # count 50
    # by count descending, ties by id: 2 (50), 20 (30), 3 (9), 4 (9), 12 (9), 11 (8), ...
    assert [i for i in range(1, 21) if labels[i] == "normal"] == [3, 4, 20]    # 30, 9, 9; item 12 (9) is not
    assert sum(labels[1:] == "unpopular") == 16
    assert labels[12] == "unpopular" and labels[5] == "unpopular"


def test_popularity_groups_checks_shares():
    with pytest.raises(ValueError):
        popularity_groups([0, 1, 2], unpopular=0.9, popular=0.2)
    with pytest.raises(ValueError):
        popularity_groups([0])


# ----- ranking metrics ------------------------------------------------------------------------------
def test_ranking_metrics_hand_computed():
    top = [[3, 1, 5]]
    positives = [np.array([1, 5, 7])]
    metrics, n = ranking_metrics(top, positives, ks=[3])
    # hits at ranks 2 and 3 of 3 relevant items
    assert n == 1
    assert metrics["recall@3"] == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert metrics["ndcg@3"] == pytest.approx(dcg / idcg)
    # restricted to the group {5, 7}: one hit at rank 3 of 2 relevant items
    mask = np.zeros(8, dtype=bool)
    mask[[5, 7]] = True
    metrics, n = ranking_metrics(top, positives, ks=[3], item_mask=mask)
    assert metrics["recall@3"] == pytest.approx(1 / 2)
    assert metrics["ndcg@3"] == pytest.approx((1 / math.log2(4)) / (1 + 1 / math.log2(3)))


def test_ranking_metrics_skips_users_without_group_items():
    top = [[1, 2], [2, 1]]
    positives = [np.array([1]), np.array([2])]
    mask = np.array([False, True, False])
    metrics, n = ranking_metrics(top, positives, ks=[1, 2], item_mask=mask)
    assert n == 1                                   # user 2 has no test item in the group
    assert metrics["recall@1"] == 1.0 and metrics["ndcg@2"] == 1.0
    metrics, n = ranking_metrics(top, positives, ks=[1], item_mask=np.zeros(3, dtype=bool))
    assert n == 0 and math.isnan(metrics["recall@1"])


# ----- false hard negatives ------------------------------------------------------------------------
def test_false_negative_flags_hand_computed():
    emb = torch.tensor([[0.0, 0.0],       # padding
                        [1.0, 0.0],       # item 1: a test item of user 0
                        [0.999, 0.0447],  # item 2: cosine 0.999 with item 1 -> false hard negative
                        [0.0, 1.0],       # item 3: orthogonal
                        [0.98, 0.199]])   # item 4: cosine 0.980 with item 1 -> below 0.99
    test_items = [torch.tensor([1]), None]       # user 1 has no test item
    users = torch.tensor([0, 0, 0, 0, 1])
    negatives = torch.tensor([2, 3, 1, 4, 2])
    flags, evaluable = false_negative_flags(emb, users, negatives, test_items, threshold=0.99)
    assert flags.tolist() == [True, False, True, False, False]
    assert evaluable.tolist() == [True, True, True, True, False]
    assert float(flags.sum()) / float(evaluable.sum()) == pytest.approx(2 / 4)


def test_false_negative_flags_several_test_items():
    emb = torch.eye(5)
    test_items = [torch.tensor([1, 3]), torch.tensor([2])]
    flags, evaluable = false_negative_flags(emb, torch.tensor([0, 0, 1, 1]), torch.tensor([3, 4, 2, 1]),
                                            test_items)
    assert flags.tolist() == [True, False, True, False]
    assert bool(evaluable.all())

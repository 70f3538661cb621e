"""The random-effects pool of claim 2 against hand-computed examples: DerSimonian-Laird tau², I², Q, the pooled
mean and its standard error, the HKSJ interval; k = 1; the variance floor; and the per-task standard error
from paired scores (0/1, clustered, several seeds)."""
from __future__ import annotations

import math

import pytest

from needlework.evals.pooled import change_se, chi2_sf, min_variance, random_effects, t_quantile


def test_three_studies_by_hand():
    # y = [0.10, 0.30, -0.05], v = [0.01, 0.02, 0.015]
    # w = 1/v = [100, 50, 66.667]; sum w = 216.667; sum w y = 10 + 15 - 3.333 = 21.667 -> y_FE = 0.100
    # Q = 100 (0.10 - 0.10)^2 + 50 (0.30 - 0.10)^2 + 66.667 (-0.05 - 0.10)^2 = 0 + 2.0 + 1.5 = 3.5, df = 2
    # p(Q) = P(chi2_2 >= 3.5) = exp(-3.5 / 2) = 0.17377
    # sum w^2 = 10000 + 2500 + 4444.44 = 16944.44; C = 216.667 - 16944.44 / 216.667 = 216.667 - 78.205 = 138.462
    # tau^2 = (3.5 - 2) / 138.462 = 0.0108333;  I^2 = (3.5 - 2) / 3.5 = 0.428571
    # w* = 1 / (v + tau^2) = [1/0.0208333, 1/0.0308333, 1/0.0258333] = [48.000, 32.4324, 38.7097]; sum = 119.1421
    # mu = (48 * 0.10 + 32.4324 * 0.30 - 38.7097 * 0.05) / 119.1421 = (4.8 + 9.72973 - 1.93548) / 119.1421 = 0.105708
    # se(mu) = sqrt(1 / 119.1421) = 0.0916152;  DL interval 0.105708 -+ 1.959964 * 0.0916152 = [-0.073855, 0.285270]
    # HKSJ: q = sum w* (y - mu)^2 / 2 = (48 * 0.0000326 + 32.4324 * 0.0377495 + 38.7097 * 0.0242449) / 2 = 1.082192
    #       (>= 1, so the floor does not bite); half = t_{2, .975} * sqrt(q / sum w*) = 4.302653 * 0.0953058 = 0.410068
    r = random_effects([0.10, 0.30, -0.05], [math.sqrt(v) for v in (0.01, 0.02, 0.015)])
    assert r["k"] == 3 and r["q_df"] == 2
    assert r["q"] == pytest.approx(3.5)
    assert r["q_p"] == pytest.approx(math.exp(-1.75))
    assert r["tau2"] == pytest.approx(1.5 / 138.4615, rel=1e-5)
    assert r["i2"] == pytest.approx(1.5 / 3.5)
    assert r["estimate"] == pytest.approx(0.105708, abs=1e-6)
    assert r["se"] == pytest.approx(0.0916152, abs=1e-6)
    assert r["ci95_dl"] == pytest.approx([-0.073855, 0.285270], abs=1e-5)
    assert r["ci95_hksj"] == pytest.approx([0.105708 - 0.410068, 0.105708 + 0.410068], abs=1e-5)
    assert r["ci95"] == r["ci95_hksj"]   # the headline
    assert r["weights"] == pytest.approx([48.0 / 119.1421, 32.4324 / 119.1421, 38.7097 / 119.1421], abs=1e-5)


def test_hksj_is_never_narrower_than_dl():
    # two tasks that agree more closely than their errors: q = 0.02 < 1 is floored at 1
    r = random_effects([0.10, 0.11], [0.05, 0.05])
    assert r["tau2"] == 0.0 and r["i2"] == 0.0
    half_dl = (r["ci95_dl"][1] - r["ci95_dl"][0]) / 2
    half_hk = (r["ci95_hksj"][1] - r["ci95_hksj"][0]) / 2
    assert half_hk == pytest.approx(half_dl / 1.959964 * 12.706205, rel=1e-5)


def test_one_study_is_that_study():
    r = random_effects([0.2], [0.1])
    assert r["estimate"] == pytest.approx(0.2) and r["tau2"] == 0.0 and r["i2"] == 0.0
    assert r["q"] is None and r["q_p"] is None and r["ci95_hksj"] is None
    assert r["ci95"] == pytest.approx([0.2 - 0.1959964, 0.2 + 0.1959964], abs=1e-6)
    assert r["weights"] == [1.0]


def test_a_task_where_nothing_changed_gets_the_floor_not_all_the_weight():
    # 50 items, no item changed: variance 0 -> 1/50^2 (one item changed by one unit)
    assert change_se([1.0] * 20 + [0.0] * 30, [[1.0] * 20 + [0.0] * 30]) == pytest.approx(1 / 50)
    assert min_variance(50) == pytest.approx(1 / 2500)
    r = random_effects([0.0, 0.2], [0.0, 0.05], n=[50, 100])
    assert r["weights"][0] < 1.0 and r["k"] == 2
    with pytest.raises(ValueError, match="zero variance"):
        random_effects([0.0, 0.2], [0.0, 0.05])


def test_the_standard_error_of_paired_zero_one_scores():
    # b = 2 right -> wrong, c = 6 wrong -> right, n = 40: var = (b + c - (c - b)^2 / n) / (n (n - 1))
    before = [1, 1] + [0] * 6 + [1] * 10 + [0] * 22
    after = [0, 0] + [1] * 6 + [1] * 10 + [0] * 22
    expected = math.sqrt((8 - 16 / 40) / (40 * 39))
    assert change_se(before, [after]) == pytest.approx(expected)
    # the same pairs in clusters of two identical items: the design effect doubles the variance
    twice_b, twice_a = [x for x in before for _ in (0, 1)], [x for x in after for _ in (0, 1)]
    clusters = [str(i) for i in range(40) for _ in (0, 1)]
    independent = change_se(twice_b, [twice_a])
    assert change_se(twice_b, [twice_a], clusters) ** 2 == pytest.approx(2 * independent ** 2, rel=0.03)


def test_several_seeds_add_the_run_to_run_variance():
    before = [0.0] * 10
    runs = [[1.0] * 2 + [0.0] * 8, [1.0] * 6 + [0.0] * 4]   # per-run changes 0.2 and 0.6
    mean_after = [1.0] * 2 + [0.5] * 4 + [0.0] * 4
    m = sum(mean_after) / 10
    items = sum((x - m) ** 2 for x in mean_after) / 9 / 10
    seeds = ((0.2 - 0.4) ** 2 + (0.6 - 0.4) ** 2) / 1 / 2
    assert change_se(before, runs) == pytest.approx(math.sqrt(items + seeds))


def test_the_distributions_match_their_tables():
    assert [round(t_quantile(0.975, df), 3) for df in (1, 2, 3, 4, 10, 30)] == [12.706, 4.303, 3.182, 2.776,
                                                                               2.228, 2.042]
    assert chi2_sf(3.841459, 1) == pytest.approx(0.05, abs=1e-6)
    assert chi2_sf(5.991465, 2) == pytest.approx(0.05, abs=1e-6)
    assert chi2_sf(7.814728, 3) == pytest.approx(0.05, abs=1e-6)
    assert chi2_sf(18.307038, 10) == pytest.approx(0.05, abs=1e-6)
    assert chi2_sf(0.0, 3) == 1.0

"""Paired before/after statistics against hand-worked and published cases, and the run join on item id."""
from __future__ import annotations

import math

import pytest

from needlework.evals.metrics import wilson
from needlework.evals.paired import (METHOD_BOOTSTRAP, METHOD_MCNEMAR, METHOD_SEEDS, across_seeds,
                                     mcnemar_exact_p, newcombe_paired, paired_bootstrap, paired_difference, reading,
                                     seed_item_bootstrap)
from needlework.evals.compare import compare_results, format_table
from needlework.evals.paired_runs import compare_items, compare_runs, item_rows
from needlework.io import write_jsonl


def test_published_paired_table():
    # Cavo et al. 2012 (Fagerland, Lydersen & Laake, ch. 8): rows before, columns after, [[59, 6], [16, 80]];
    # their Newcombe square-and-add interval for before - after is -0.0621 (-0.1186 to -0.0046).
    d, lo, hi = newcombe_paired(59, 6, 16, 80)
    assert (round(d, 4), round(lo, 4), round(hi, 4)) == (0.0621, 0.0046, 0.1186)


def test_hand_worked_table():
    # a=1, b=1, c=7, d=12 (n=21): before 2/21, after 8/21; ad - bc = 5 <= n/2, so Newcombe's phi is 0 and
    # the interval is the plain square-and-add of the two Wilson intervals.
    lb, ub = wilson(2, 21)
    la, ua = wilson(8, 21)
    pb, pa = 2 / 21, 8 / 21
    d, lo, hi = newcombe_paired(1, 1, 7, 12)
    assert d == pytest.approx(6 / 21)
    assert lo == pytest.approx(pa - pb - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2))
    assert hi == pytest.approx(pa - pb + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2))
    # exact McNemar on the 8 discordant pairs: 2 * P(X <= 1), X ~ Bin(8, 1/2) = 2 * 9/256
    assert mcnemar_exact_p(1, 7) == pytest.approx(18 / 256)


def test_mcnemar_matches_scipy_binomtest():
    stats = pytest.importorskip("scipy.stats")
    for b, c in [(6, 16), (0, 5), (3, 3), (0, 1), (10, 30), (17, 4), (4900, 5100), (5000, 5001), (10, 9000)]:
        assert mcnemar_exact_p(b, c) == pytest.approx(stats.binomtest(b, b + c).pvalue, rel=1e-9)


def test_all_equal_all_discordant_and_one_item():
    same = paired_difference([1, 0, 1, 0], [1, 0, 1, 0])
    assert same["delta"] == 0 and same["p"] == 1.0 and same["ci95"][0] < 0 < same["ci95"][1]
    assert reading(same["ci95"]) == "no detectable change"
    up = paired_difference([0] * 10, [1] * 10)
    lb, _ = wilson(10, 10)
    _, ub0 = wilson(0, 10)
    assert up["delta"] == 1 and up["ci95"][1] == 1.0
    assert up["ci95"][0] == pytest.approx(1 - math.sqrt((1 - lb) ** 2 + ub0 ** 2), abs=1e-6)
    assert up["p"] == pytest.approx(2 / 2 ** 10, rel=1e-5) and reading(up["ci95"]) == "better"
    down = paired_difference([1] * 10, [0] * 10)
    assert down["delta"] == -1 and reading(down["ci95"]) == "worse"
    one = paired_difference([0], [1])
    assert one["n"] == 1 and one["delta"] == 1 and one["p"] == 1.0 and one["ci95"][0] < 0
    assert paired_difference([], [])["n"] == 0
    with pytest.raises(ValueError):
        paired_difference([1], [1, 0])


def test_non_binary_scores_use_a_seeded_bootstrap():
    before = [0.1 * (i % 7) for i in range(50)]
    after = [b + (0.2 if i % 3 else -0.1) for i, b in enumerate(before)]
    r = paired_difference(before, after)
    assert r["method"] == METHOD_BOOTSTRAP and r["p"] is None
    assert r["delta"] == pytest.approx(sum(a - b for a, b in zip(after, before)) / 50)
    assert r["ci95"][0] < r["delta"] < r["ci95"][1]
    assert paired_bootstrap(before, after) == paired_bootstrap(before, after)   # same seed, same interval
    assert paired_bootstrap([0.5] * 5, [0.5] * 5) == (0.0, 0.0, 0.0)


def test_across_seeds():
    s = across_seeds([{"delta": 0.1, "ci95": [0.02, 0.2]}, {"delta": 0.3, "ci95": [0.1, 0.5]}])
    assert s["mean"] == 0.2 and s["std"] == pytest.approx(0.141421, abs=1e-6)
    assert s["values"] == [0.1, 0.3] and s["seeds"] == 2 and s["readings"] == ["better", "better"]
    assert not s["disagree_in_sign"] and not s["conflicting"]
    assert across_seeds([{"delta": 0.5, "ci95": [0.1, 0.9]}])["std"] is None
    mixed = across_seeds([{"delta": 0.2, "ci95": [0.1, 0.3]}, {"delta": -0.01, "ci95": [-0.1, 0.08]}])
    assert mixed["disagree_in_sign"] and not mixed["conflicting"]
    split = across_seeds([{"delta": 0.2, "ci95": [0.1, 0.3]}, {"delta": -0.2, "ci95": [-0.3, -0.1]}])
    assert split["conflicting"] and split["readings"] == ["better", "worse"]


def _rows(scores: dict[str, float], over: set[str] = frozenset()) -> list[dict]:
    return [{"benchmark": "kv", "item_id": i, "bucket": f"position={i[0]}", "axes": {"position": int(i[0])},
             "over_context": i in over, "scores": {"acc": s}} for i, s in scores.items()]


def test_join_on_item_id_reports_missing_and_over_context():
    before = _rows({"1a": 0, "1b": 0, "2a": 1, "2b": 0, "3x": 1, "2c": 1}, over={"2c"})
    after = _rows({"2b": 1, "1b": 1, "1a": 1, "2a": 1, "4y": 0, "2c": 1})   # different order, one new, one gone
    res = compare_items(before, [after], ["acc"])
    assert res["n_pairs"] == 4 and res["n_over_context"] == 1
    assert res["missing"]["only_before"] == 1 and res["missing"]["examples_only_before"] == ["3x"]
    assert res["missing"]["only_after"] == 1 and res["missing"]["examples_only_after"] == ["4y"]
    ov = res["metrics"]["acc"]["overall"]
    assert ov["table"] == {"a": 1, "b": 0, "c": 3, "d": 0} and ov["delta"] == 0.75
    assert ov["method"] == METHOD_MCNEMAR
    by_pos = {r["value"]: r for r in res["metrics"]["acc"]["by_axis"]["position"]}
    assert sorted(by_pos) == [1, 2] and by_pos[1]["delta"] == 1.0 and by_pos[2]["delta"] == 0.5
    assert [b["label"] for b in res["metrics"]["acc"]["buckets"]] == ["position=1", "position=2"]


def test_several_seeds_keep_each_seed_and_resample_runs_and_items():
    before = _rows({"1a": 0, "1b": 0, "1c": 1, "1d": 0})
    seeds = [_rows({"1a": 1, "1b": 1, "1c": 1, "1d": 0}), _rows({"1a": 1, "1b": 0, "1c": 1, "1d": 0})]
    ov = compare_items(before, seeds, ["acc"])["metrics"]["acc"]["overall"]
    assert ov["seeds"]["values"] == [0.5, 0.25] and ov["seeds"]["mean"] == 0.375
    assert ov["delta"] == 0.375 and ov["method"].startswith(METHOD_SEEDS) and ov["p"] is None
    # four items: the bootstrap is narrower than the pairs allow, so it is widened to the pooled Rao-Scott interval
    assert ov["method"].endswith("widened to the Rao-Scott interval of every run's pairs")
    assert [len(c) for c in ov["seeds"]["ci95"]] == [2, 2]   # each seed's own paired interval is kept


def test_a_seed_that_got_worse_widens_the_interval_and_is_named():
    """Three training runs on 100 items: two gain 20 points, one loses 20. Averaging items over seeds first
    reads a confident +0.07; over runs and items the interval reaches below zero, and the seeds conflict."""
    n = 100
    before = [0.0] * 50 + [1.0] * 50
    up = [1.0] * 20 + [0.0] * 30 + [1.0] * 50              # 20 wrong -> right
    down = [0.0] * 50 + [0.0] * 20 + [1.0] * 30            # 20 right -> wrong
    afters = [up, up, down]
    mean_after = [sum(c) / 3 for c in zip(*afters)]
    naive = paired_difference(before, mean_after)
    assert naive["ci95"][0] > 0                              # the old rule: "better"
    delta, lo, hi = seed_item_bootstrap(before, afters)
    assert delta == pytest.approx((20 + 20 - 20) / 3 / n)
    assert lo < 0 < hi                                       # run-to-run variation is in the interval
    rows = lambda xs: [{"item_id": str(i), "bucket": "b", "axes": {}, "over_context": False,  # noqa: E731
                        "scores": {"acc": x}} for i, x in enumerate(xs)]
    ov = compare_items(rows(before), [rows(a) for a in afters], ["acc"])["metrics"]["acc"]["overall"]
    assert ov["seeds"]["conflicting"] and ov["seeds"]["readings"] == ["better", "better", "worse"]
    assert ov["ci95"] == [round(lo, 6), round(hi, 6)]


def test_run_folders_and_general_items(tmp_path):
    for name, acc in (("a", 0), ("b", 1)):
        run = tmp_path / name
        general = [{"benchmark": "general", "item_id": f"mmlu/{i}", "bucket": "task=mmlu", "axes": {"task": "mmlu"},
                    "over_context": False, "scores": {"score": float(acc if i < 3 else 1)}} for i in range(5)]
        write_jsonl(run / "samples.jsonl", _rows({"1a": acc, "2a": 0}) + general)
    rows = item_rows(tmp_path / "a")["general"]
    assert rows[0]["item_id"] == "mmlu/0" and rows[0]["axes"] == {"task": "mmlu"}
    cmp = compare_runs(item_rows(tmp_path / "a"), [item_rows(tmp_path / "b" / "results.json")])
    assert set(cmp) == {"kv", "general"}
    assert cmp["general"]["metrics"]["score"]["overall"]["table"] == {"a": 2, "b": 0, "c": 3, "d": 0}
    assert cmp["kv"]["metrics"]["acc"]["overall"]["delta"] == 0.5


def test_compare_table_is_paired_and_lists_unpaired_items():
    before = _rows({"1a": 0, "1b": 0, "2a": 1, "3x": 1})
    after = _rows({"1a": 1, "1b": 1, "2a": 1})
    results = {"benchmarks": {"kv": {"primary_metric": "acc"}}}
    cmp = compare_results(results, results, {"kv": before}, {"kv": after})
    overall = cmp["kv"]["rows"][-1]
    assert overall["label"] == "overall" and overall["n"] == 3 and overall["diff"] == pytest.approx(2 / 3)
    assert overall["p"] == 0.5   # two discordant pairs, both up: 2 * (1/2)^2
    text = format_table(cmp, "A", "B")
    assert "not paired: 1 items only in A (e.g. 3x), 0 only in B" in text
    no_items = compare_results(results, results, {}, {"kv": after})
    assert no_items["kv"]["rows"] == [] and "no paired comparison" in format_table(no_items, "A", "B")

"""Paired intervals over clustered items: one MDQA question at every gold position (one key-value sample at every
depth, one FLenQA instance at every length) is one piece of evidence, not several independent pairs."""
from __future__ import annotations

import random

import pytest

from needlework.evals.equivalence import equivalence
from needlework.evals.paired import (METHOD_CLUSTER, METHOD_MCNEMAR, METHOD_RAO_SCOTT, cluster_bootstrap,
                                     paired_difference)
from needlework.evals.paired_runs import compare_items


def _outcomes(n: int, seed: int = 0) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    before = [int(rng.random() < 0.35) for _ in range(n)]
    after = [b if rng.random() < 0.75 else int(rng.random() < 0.5) for b in before]
    return before, after


def test_copies_of_one_question_add_no_evidence():
    """Each of 40 questions asked at 3 positions with the same outcome: counted as 120 independent pairs the
    interval narrows by ~sqrt(3); the Rao-Scott design effect (~3) gives back the 40 questions' interval."""
    before, after = _outcomes(40, seed=4)        # 4 wrong -> right, 1 right -> wrong
    b3, a3 = [x for x in before for _ in range(3)], [x for x in after for _ in range(3)]
    clusters = [f"q{i}" for i in range(40) for _ in range(3)]
    naive = paired_difference(b3, a3)
    fair = paired_difference(b3, a3, clusters)
    alone = paired_difference(before, after)
    assert naive["method"] == METHOD_MCNEMAR and fair["method"] == METHOD_RAO_SCOTT
    assert fair["clusters"] == 40 and fair["table"] == naive["table"]
    assert fair["design_effect"] == pytest.approx(119 / 39, abs=1e-4)   # (3m - 1) / (m - 1) for exact copies
    width = lambda r: r["ci95"][1] - r["ci95"][0]
    assert width(alone) <= width(fair) < 1.05 * width(alone)
    assert width(fair) > 1.5 * width(naive)                     # the naive interval claimed ~sqrt(3) more
    assert naive["p"] < 0.05 < fair["p"]                       # 15 vs 3 discordant "pairs" were 4 vs 1 questions


def test_a_change_on_every_item_keeps_an_interval():
    """18 items, 6 samples at 3 depths, all wrong before and right after: a bootstrap over clusters collapses to
    [+1, +1]; the adjusted Newcombe interval is the one 18 independent pairs give, never narrower."""
    clusters = [f"s{i // 3}" for i in range(18)]
    res = paired_difference([0] * 18, [1] * 18, clusters)
    assert res["delta"] == 1.0 and res["ci95"] == paired_difference([0] * 18, [1] * 18)["ci95"]
    assert res["ci95"][0] < 0.85 and res["design_effect"] == 1.0
    assert cluster_bootstrap([0] * 18, [[1] * 18], clusters)[1:] == (1.0, 1.0)   # what the bootstrap would say


def test_fractional_scores_resample_clusters():
    before = [0.0, 0.5, 0.25, 1.0, 0.5, 0.0] * 5
    after = [0.5, 0.5, 0.75, 1.0, 0.25, 0.5] * 5
    clusters = [f"c{i // 3}" for i in range(30)]
    res = paired_difference(before, after, clusters)
    assert res["method"] == METHOD_CLUSTER and res["p"] is None and res["clusters"] == 10


def test_independent_items_keep_the_exact_paired_method():
    before, after = _outcomes(60, seed=1)
    one_each = paired_difference(before, after, [f"q{i}" for i in range(60)])
    assert one_each == paired_difference(before, after)
    assert one_each["method"] == METHOD_MCNEMAR and "clusters" not in one_each


def test_cluster_bootstrap_weights_clusters_by_their_items_and_covers_several_runs():
    before = [0, 0, 0, 1, 1]
    afters = [[1, 1, 1, 1, 0], [1, 1, 0, 1, 1]]
    clusters = ["a", "a", "a", "b", "b"]
    delta, lo, hi = cluster_bootstrap(before, afters, clusters)
    assert abs(delta - 0.4) < 1e-12                 # (2 + 2) / 10: every item of every run counts once
    # a resample is whole clusters of whole runs: its change lies between cluster b in run 1 (-1/2) and
    # cluster a in run 1 (3/3); an interval from items drawn one by one could not reach both ends this way
    assert -0.5 <= lo < 0.2 and 0.7 < hi <= 1.0


def test_equivalence_resamples_clusters_too():
    before, after = _outcomes(40, seed=2)
    b3, a3 = [x for x in before for _ in range(3)], [x for x in after for _ in range(3)]
    clusters = [f"q{i}" for i in range(40) for _ in range(3)]
    naive, fair = equivalence(b3, [a3], 0.05), equivalence(b3, [a3], 0.05, clusters)
    assert "Rao-Scott" in fair["method"] and fair["p"] > naive["p"]
    assert fair["ci90"][1] - fair["ci90"][0] > 1.5 * (naive["ci90"][1] - naive["ci90"][0])


def _rows(scores: list[int], clusters: bool) -> list[dict]:
    out = []
    for i, s in enumerate(scores):
        q, pos = divmod(i, 3)
        row = {"benchmark": "mdqa", "item_id": f"q{q}/pos={pos + 1}", "bucket": f"position={pos + 1}",
               "axes": {"position": pos + 1}, "over_context": False, "scores": {"em": float(s)}}
        if clusters:
            row["cluster"] = f"q{q}"
        out.append(row)
    return out


def test_compare_resamples_questions_overall_and_keeps_the_exact_method_per_position():
    before, after = _outcomes(90, seed=3)
    res = compare_items(_rows(before, True), [_rows(after, True)], ["em"])["metrics"]["em"]
    assert res["overall"]["method"] == METHOD_RAO_SCOTT and res["overall"]["clusters"] == 30
    assert all(p["method"] == METHOD_MCNEMAR for p in res["by_axis"]["position"])   # one question per position
    old = compare_items(_rows(before, False), [_rows(after, False)], ["em"])["metrics"]["em"]   # rows of old runs
    assert old["overall"]["method"] == METHOD_MCNEMAR
    two_seeds = compare_items(_rows(before, True), [_rows(after, True), _rows(before, True)], ["em"])
    assert "clusters" in two_seeds["metrics"]["em"]["overall"]["method"]


def test_accuracy_pooled_over_one_samples_layouts_is_not_counted_as_independent():
    """aggregate's by-length accuracy pools the depths of each sample: its Wilson interval uses the design
    effect; a (length, depth) cell, one item per sample, keeps the plain interval."""
    from needlework.evals.aggregate import aggregate
    rows = [{"item_id": f"kv/len=8/depth={d}/{t}", "cluster": f"kv/len=8/{t}", "bucket": f"length=8,position={d}",
             "axes": {"length": 8, "position": d}, "over_context": False, "scores": {"acc": float(t < 6)}}
            for d in (0.0, 0.5, 1.0) for t in range(10)]
    res = aggregate(rows, ("acc",), ("length", "position"))
    pooled = res["by_axis"]["length"][0]["metrics"]["acc"]
    cell = res["buckets"][0]["metrics"]["acc"]
    assert pooled["n"] == 30 and pooled["design_effect"] == pytest.approx(29 / 9, abs=1e-3)
    assert "design_effect" not in cell
    assert pooled["ci95"] == pytest.approx(list(cell["ci95"]), abs=0.02)   # 30 copies ~ the 10 samples' interval
    plain = aggregate([{k: v for k, v in r.items() if k != "cluster"} for r in rows], ("acc",), ("length",))
    assert "design_effect" not in plain["overall"]["metrics"]["acc"]

"""The sweep table: one row per arm from a hand-made report.json (transfer changes, pooled estimate, synthetic
score, claim 3's guard, time)."""
from __future__ import annotations

from needlework.report.sweep_table import arm_settings, sweep_markdown, sweep_rows


def _report() -> dict:
    one = {"delta": 0.05, "ci95": [-0.01, 0.11], "reading": "no detectable change", "seeds": None}
    three = {"delta": 0.04, "ci95": [0.01, 0.07], "reading": "better",
             "seeds": {"seeds": 3, "mean": 0.04, "std": 0.012}}
    return {"models": ["base", "demo", "fast"],
            "benchmarks": {
                "kv-retrieval": {"overall": {"base": {"accuracy": 0.0}, "demo": {"accuracy": 0.96, "std": None},
                                             "fast": {"accuracy": 1.0, "std": 0.0}}},
                "mdqa": {"change": {"demo": {"overall": one}, "fast": {"overall": three}}},
                "general": {"table1": {"claim": {"demo": "kept on every testable task",
                                                 "fast": "not kept: worse on ARC-Easy"}}}},
            "transfer_pooled": {"arms": {"fast": {"reading": "better", "k": 3,
                                                  "pool": {"estimate": 0.031, "ci95": [0.002, 0.060], "k": 3}}}},
            "training": [{"arm": "demo", "seed": 0, "global_step": 40, "seconds": 400.0},
                         {"arm": "fast", "seed": 0, "global_step": 60, "seconds": 600.0},
                         {"arm": "fast", "seed": 1, "global_step": 60, "seconds": 620.0},
                         {"arm": "fast", "seed": 2, "global_step": 60, "seconds": 640.0}],
            "stage_seconds": {"train/demo-s0": 400.0, "eval/demo-s0": 100.0, "eval/base": 90.0,
                              "train/fast-s0": 600.0, "train/fast-s1": 620.0, "train/fast-s2": 640.0}}


def test_one_row_per_arm_with_transfer_pooled_guard_and_time():
    rows = sweep_rows(_report(), {"demo": {}, "fast": {"train": {"lr": 3e-4, "max_steps": 60}}})
    assert [r["arm"] for r in rows] == ["demo", "fast"]
    demo, fast = rows
    assert demo["settings"] == "(the main arm)" and fast["settings"] == "train.lr=0.0003 train.max_steps=60"
    assert demo["transfer"]["MDQA"] == {"delta": 0.05, "ci95": [-0.01, 0.11], "seeds": 1,
                                        "reading": "no detectable change"}
    assert fast["transfer"]["MDQA"]["std"] == 0.012 and fast["transfer"]["MDQA"]["seeds"] == 3
    assert fast["pooled"] == {"estimate": 0.031, "ci95": [0.002, 0.060], "k": 3, "reading": "better"} and demo["pooled"] == {}
    assert demo["synthetic"]["accuracy"] == 0.96 and fast["steps"] == [60] and fast["seeds"] == 3
    assert fast["train_seconds"] == 620.0 and fast["seconds"] == 1860.0 and demo["seconds"] == 500.0
    assert fast["general"] == "not kept: worse on ARC-Easy"
    md = sweep_markdown(rows).splitlines()
    assert md[0].startswith("| arm | settings |") and "pooled transfer" in md[0] and "MDQA" in md[0]
    assert "+0.031 [+0.002, +0.060] (k=3)" in md[3] and "+0.040 ± 0.012" in md[3] and "1.000 ± 0.000" in md[3]
    assert "+0.050 [-0.010, +0.110]" in md[2] and "| – |" in md[2]   # no pooled estimate for demo


def test_a_mixture_arm_is_named_by_its_components():
    over = {"task": "mixture", "mixture": [{"name": "num", "task": "simple_kv"}, {"task": "formatted_kv"}],
            "params": {"num_dict": 6}}
    assert arm_settings(over) == "task=mixture mixture=[num, formatted_kv] params.num_dict=6"


def test_the_guard_reads_no_loss_beyond_the_margin_one_sided():
    """An arm whose general score rose past the margin reads "inconclusive" on the two-sided test, yet shows no loss:
    the guard a recipe is chosen with says so; an arm whose 90% lower bound reaches below -margin does not pass."""
    rep = _report()
    rep["benchmarks"]["general"]["table1"] = {
        "claim": {"demo": "inconclusive: not shown within the margin on ARC-Easy", "fast": "kept on every testable task"},
        "change": {"demo": {"arc_easy": {"equivalence": {"ci90": [-0.007, 0.061], "margin": 0.05}}},
                   "fast": {"arc_easy": {"equivalence": {"ci90": [-0.052, 0.01], "margin": 0.05}}}}}
    demo, fast = sweep_rows(rep, {"demo": {}, "fast": {}})
    assert demo["general"].endswith("; no loss beyond -0.05")
    assert fast["general"].endswith("; a loss beyond -0.05 not ruled out")

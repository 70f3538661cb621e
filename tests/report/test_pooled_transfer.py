"""Claim 2 read from the pool of every transfer benchmark: hand-made runs with three transfer tasks (MDQA with the
base model at the floor, left out as not testable; SQuAD passages better and SciQ passages worse on their own, pooled),
the verdict paragraph and table naming the tasks that disagree, the forest plot's drawn data, the pool generic
over the registry's claim, and the terminal table showing whole cells."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from needlework.evals.aggregate import aggregate
from needlework.evals.pooled import random_effects
from needlework.io import write_json, write_jsonl
from needlework.report.build import write_report

N = 60
# per benchmark: (metric, base right -> after right, right -> wrong (b), wrong -> right (c)); the rest wrong twice
TABLES = {"mdqa": ("best_subspan_em", 0, 0, 6), "squad-passages": ("answer_em", 20, 2, 14),
          "sciq-passages": ("answer_em", 20, 12, 2)}


def _scores(a: int, b: int, c: int) -> tuple[list[float], list[float]]:
    before = [1.0] * a + [1.0] * b + [0.0] * c + [0.0] * (N - a - b - c)
    after = [1.0] * a + [0.0] * b + [1.0] * c + [0.0] * (N - a - b - c)
    return before, after


def _eval(root: Path, folder: str, side: int) -> None:
    results, rows = {}, []
    for name, (metric, a, b, c) in TABLES.items():
        scores = _scores(a, b, c)[side]
        mine = [{"benchmark": name, "item_id": f"{name}/{i}", "bucket": f"position={i % 3}",
                 "axes": {"position": i % 3}, "over_context": False, "scores": {metric: s}}
                for i, s in enumerate(scores)]
        results[name] = {**aggregate(mine, (metric,), ("position",)), "describe": {"source": "released"}}
        rows += mine
    write_json(root / folder / "results.json", {"benchmarks": results})
    write_jsonl(root / folder / "samples.jsonl", rows)
    write_json(root / folder / "done.json", {"key": "0000", "seconds": 1.0, "outputs": {}})


def _run(root: Path) -> dict:
    _eval(root, "eval/base-0000", 0)
    _eval(root, "eval/kv-s0-0000", 1)
    stages = [{"kind": "eval", "label": "base", "key": "0000", "info": {"role": "base"}, "folder": "eval/base-0000"},
              {"kind": "eval", "label": "kv-s0", "key": "0000", "info": {"role": "fine-tuned", "arm": "kv", "seed": 0},
               "folder": "eval/kv-s0-0000"}]
    return {"name": "t", "title": "transfer suite", "seeds": [0], "arms": ["kv"], "base_model": "m", "stages": stages}


def _se(b: int, c: int) -> float:
    """The paired 0/1 standard error: var = (b + c - (c - b)^2 / n) / (n (n - 1))."""
    return math.sqrt((b + c - (c - b) ** 2 / N) / (N * (N - 1)))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("suite")
    rep = write_report(root, _run(root), root / "report" / "r")
    return root, rep


def test_the_floor_task_is_left_out_and_the_others_pooled(report):
    _, rep = report
    ap = rep["transfer_pooled"]["arms"]["kv"]
    tasks = {t["name"]: t for t in ap["tasks"]}
    assert tasks["mdqa"]["untestable"].startswith("base 0.000 at the floor") and tasks["mdqa"]["weight"] is None
    assert ap["k"] == 2
    # SQuAD passages: b = 2, c = 14 -> +0.200, se sqrt((16 - 2.4) / 3540); SciQ passages: b = 12, c = 2 -> -0.167
    assert tasks["squad-passages"]["se"] == pytest.approx(_se(2, 14), rel=1e-5)
    assert tasks["sciq-passages"]["se"] == pytest.approx(_se(12, 2), rel=1e-5)
    expected = random_effects([0.2, -10 / 60], [_se(2, 14), _se(12, 2)])
    assert ap["pool"]["estimate"] == pytest.approx(expected["estimate"], abs=1e-6)
    assert ap["pool"]["ci95"] == pytest.approx(expected["ci95_hksj"], abs=1e-5)
    assert ap["pool"]["tau2"] > 0 and ap["pool"]["i2"] > 0.9   # two tasks moving in opposite directions
    assert ap["reading"] == "no detectable change" and ap["disagree"] == ["SQuAD passages", "SciQ passages"]


def test_claim_two_reads_from_the_pool_and_names_the_disagreeing_tasks(report):
    _, rep = report
    text = rep["claims"][1]
    assert text.startswith("Claim 2, the skill transfers to real long-context tasks. Read from the pooled change")
    assert "kv, pooled over 2 testable tasks (SQuAD passages, SciQ passages): change +0.0" in text
    assert ": no detectable change; on its own interval, SQuAD passages reads better, SciQ passages reads worse" in text
    assert ("left out as not testable at this model size: MDQA (base 0.000 at the floor (chance 0.000))") in text
    assert "MDQA (best_subspan_em): base 0.000 -> kv 0.100" in text.split("Per task: ")[1]
    rows = [r for r in rep["verdict"]["rows"] if r[0] == "2. it transfers"]
    assert [r[1] for r in rows] == ["MDQA, best_subspan_em (60)", "SQuAD passages, answer_em (60)",
                                    "SciQ passages, answer_em (60)", "pooled, random effects (2 tasks)"]
    assert rows[0][5] == "not testable at this model size; not pooled"
    assert rows[1][5] == "better" and rows[2][5] == "worse"
    assert rows[3][5] == "no detectable change; disagree: SQuAD passages, SciQ passages"
    assert rows[3][4].startswith("+0.0") and rows[3][4].count("[") == 1


def test_a_task_against_a_detectable_pooled_direction_is_named():
    from needlework.report.pooled_transfer import arm_pool, arm_sentence

    def task(name, delta, lo, hi, se):
        return {"name": name, "label": name.upper(), "metric": "accuracy", "base": 0.4, "after": 0.4 + delta,
                "delta": delta, "ci95": [lo, hi], "se": se, "n": 400, "untestable": None, "left_out": None,
                "reading": "better" if lo > 0 else "worse" if hi < 0 else "no detectable change", "weight": None}
    # six tasks near +0.11 and one small loss whose own interval is below zero: the pool reads better (HKSJ
    # [+0.020, +0.159]) and the seventh task is named against it
    ap = arm_pool([task(n, d, d - 0.04, d + 0.04, 0.02) for n, d in zip("abcdef", (0.10, 0.12, 0.09, 0.11, 0.10, 0.13))]
                   + [task("g", -0.02, -0.038, -0.002, 0.009)])
    assert ap["pool"]["ci95"] == pytest.approx([0.019512, 0.158643], abs=1e-6)
    assert ap["reading"] == "better" and ap["disagree"] == ["G"]
    assert arm_sentence("kv", ap).endswith(": better; on its own interval, G reads worse")


def test_one_testable_task_is_the_pool_read_by_its_own_interval():
    from needlework.report.pooled_transfer import arm_pool, arm_sentence
    one = {"name": "a", "label": "A", "metric": "accuracy", "base": 0.4, "after": 0.5, "delta": 0.1,
           "ci95": [0.02, 0.19], "se": 0.04, "n": 100, "untestable": None, "left_out": None, "reading": "better",
           "weight": None}
    floor = {**one, "name": "b", "label": "B", "base": 0.0, "untestable": "base 0.000 at the floor (chance 0.000)",
             "left_out": "not testable at this model size; not pooled"}
    ap = arm_pool([one, floor])
    assert ap["k"] == 1 and ap["pool"]["ci95"] == [0.02, 0.19] and ap["pool"]["tau2"] == 0.0
    assert ap["reading"] == "better" and ap["disagree"] == []
    assert "one testable task, so the pool is that task" in arm_sentence("kv", ap)
    nothing = arm_pool([floor])
    assert nothing["pool"] is None and nothing["reading"] == "not testable at this model size on any task"


def test_the_forest_plot_draws_each_task_and_the_pooled_diamond(report):
    from needlework.report.forest import DIAMOND_HALF_HEIGHT, forest_figure
    root, rep = report
    ap = rep["transfer_pooled"]["arms"]["kv"]
    fig = forest_figure("kv", ap, "#1f77b4")
    ax = fig.axes[0]
    pooled, left_out = ax.containers   # one errorbar call for the pooled tasks, one for those left out
    tasks = {t["name"]: t for t in ap["tasks"]}
    assert list(pooled.lines[0].get_xdata()) == [tasks["squad-passages"]["delta"], tasks["sciq-passages"]["delta"]]
    assert list(pooled.lines[0].get_ydata()) == [1, 2]   # MDQA on row 0, on top
    segments = pooled.lines[2][0].get_segments()
    assert [x for seg in segments for x in (seg[0][0], seg[1][0])] == pytest.approx(
        tasks["squad-passages"]["ci95"] + tasks["sciq-passages"]["ci95"])
    assert list(left_out.lines[0].get_xdata()) == [tasks["mdqa"]["delta"]] and list(left_out.lines[0].get_ydata()) == [0]
    diamond = ax.patches[0].get_xy()
    lo, hi = ap["pool"]["ci95"]
    est = ap["pool"]["estimate"]
    assert (lo, 4.0) in [tuple(p) for p in diamond] and (hi, 4.0) in [tuple(p) for p in diamond]
    assert (est, 4.0 - DIAMOND_HALF_HEIGHT) in [tuple(p) for p in diamond]
    assert any(list(ln.get_xdata()) == [0.0, 0.0] and ln.get_linestyle() == "--" for ln in ax.lines)   # zero line
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:3] == ["MDQA (n=60)", "SQuAD passages (n=60)", "SciQ passages (n=60)"] and labels[4].startswith("pooled")
    caption = " ".join(t.get_text() for t in fig.texts)
    assert "τ² = " in caption and "I² = " in caption
    html = (root / "report" / "r" / "report.html").read_text()
    assert html.index("claim 2: the transfer suite, per task and pooled") < html.index("<h2>summary")
    assert 'alt="forest plot of claim 2, kv"' in html
    assert (root / "report" / "r" / "plots" / "transfer-forest.png").stat().st_size > 10_000


def test_the_pool_reads_every_transfer_benchmark_of_the_registry(report, monkeypatch):
    """A benchmark registered with claim "transfer" joins the pool without the report naming it."""
    from needlework.evals import registry
    from needlework.report.pooled_transfer import pool_transfer
    _, rep = report
    toy = dataclasses.replace(registry.get_benchmark("mdqa"), name="toy-transfer",
                              report=dataclasses.replace(registry.get_benchmark("mdqa").report, label="Toy"))
    monkeypatch.setattr(registry, "BENCHMARKS", registry.BENCHMARKS + (toy,))
    benchmarks = {**rep["benchmarks"], "toy-transfer": rep["benchmarks"]["squad-passages"]}
    pooled = pool_transfer(benchmarks, {})
    assert [t["name"] for t in pooled["arms"]["kv"]["tasks"]] == ["mdqa", "squad-passages", "sciq-passages", "toy-transfer"]
    assert pooled["arms"]["kv"]["k"] == 3
    from needlework.report.verdict_table import verdict_rows
    from needlework.report.verdicts import transfer_claim
    rep2 = {**rep, "benchmarks": benchmarks, "transfer_pooled": pooled}
    assert "Toy (answer_em): base 0.367 -> kv 0.567" in transfer_claim(rep2)
    assert "Toy, answer_em (60)" in [r[1] for r in verdict_rows(rep2)]


def test_a_true_false_task_at_chance_is_not_testable_though_its_rows_carry_no_chance():
    """FLenQA answers True/False: its registry record says chance 0.5, so a base model near 0.5 (one that answers
    True to everything) is at the floor, not a task whose change reads as transfer."""
    from needlework.report.pooled_transfer import _chance, _task
    assert _chance("flenqa", []) == 0.5 and _chance("flenqa-cot", []) == 0.5 and _chance("mdqa", []) == 0.0
    bench = {"primary_metric": "accuracy", "overall": {"base": {"accuracy": 0.56, "n": 144}, "kv": {"accuracy": 0.36}},
             "change": {"kv": {"overall": {"delta": -0.2, "ci95": [-0.43, 0.08], "se": 0.1, "n": 144}}}}
    task = _task("flenqa", bench, "kv", _chance("flenqa", []), 0.02)
    assert task["untestable"] and "floor" in task["untestable"] and task["left_out"]

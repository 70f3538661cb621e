"""Claim 2's paragraph counts the companion measures task by task beside the pooled exact match (never as the
verdict): a hand-made run where the context gain rises on SQuAD passages and falls on SciQ passages, the preference
rises on SQuAD only, and MDQA carries no companion measure."""
from __future__ import annotations

from pathlib import Path

import pytest

from needlework.evals.aggregate import aggregate
from needlework.io import write_json, write_jsonl
from needlework.report.build import write_report
from needlework.report.pooled_transfer import companion_readings, companion_sentence

N = 40


def _rows(name: str, side: int) -> list[dict]:
    rows = []
    for i in range(N):
        em = float(i < 10 + 4 * side) if name == "squad-passages" else float(i < 12)
        scores = {"best_subspan_em" if name == "mdqa" else "answer_em": em}
        if name == "squad-passages":   # everything the model prefers rises
            scores.update(context_gain=3.0 + 2.0 * side + 0.1 * (i % 5), preference=0.5 + 0.5 * side * (i % 2))
        elif name == "sciq-passages":  # the gold passage pulls less; the preference does not move
            scores.update(context_gain=4.0 - 1.5 * side + 0.1 * (i % 3), preference=0.75)
        rows.append({"benchmark": name, "item_id": f"{name}/{i}", "bucket": f"position={i % 2}",
                     "axes": {"position": i % 2}, "over_context": False, "scores": scores})
    return rows


def _eval(root: Path, folder: str, side: int) -> None:
    results, rows = {}, []
    for name in ("mdqa", "squad-passages", "sciq-passages"):
        mine = _rows(name, side)
        metric = "best_subspan_em" if name == "mdqa" else "answer_em"
        results[name] = {**aggregate(mine, (metric,), ("position",)), "describe": {"source": "released"}}
        rows += mine
    write_json(root / folder / "results.json", {"benchmarks": results})
    write_jsonl(root / folder / "samples.jsonl", rows)
    write_json(root / folder / "done.json", {"key": "0000", "seconds": 1.0, "outputs": {}})


@pytest.fixture(scope="module")
def rep(tmp_path_factory):
    root = tmp_path_factory.mktemp("companion")
    _eval(root, "eval/base-0000", 0)
    _eval(root, "eval/kv-s0-0000", 1)
    stages = [{"kind": "eval", "label": "base", "key": "0000", "info": {"role": "base"}, "folder": "eval/base-0000"},
              {"kind": "eval", "label": "kv-s0", "key": "0000", "info": {"role": "fine-tuned", "arm": "kv", "seed": 0},
               "folder": "eval/kv-s0-0000"}]
    manifest = {"name": "t", "title": "companion", "seeds": [0], "arms": ["kv"], "base_model": "m", "stages": stages}
    rep = write_report(root, manifest, root / "report" / "r")
    rep["_md"] = (root / "report" / "r" / "report.md").read_text()
    return rep


def test_each_measure_is_counted_by_its_own_reading_per_task(rep):
    by = companion_readings(rep["benchmarks"], "kv")
    assert by["context_gain"] == {"better": ["SQuAD passages"], "worse": ["SciQ passages"]}
    assert by["preference"] == {"better": ["SQuAD passages"], "no detectable change": ["SciQ passages"]}


def test_the_claim_names_them_beside_the_pool_and_the_verdict_stays_exact_match(rep):
    text = rep["claims"][1]
    pooled, per_task = text.split("Per task: ")
    assert ("kv, the companion measures (what the model prefers; beside exact match, never instead of it): "
            "context_gain reads better on 1 of 2 tasks (SQuAD passages), worse on 1 of 2 tasks (SciQ passages); "
            "preference reads better on 1 of 2 tasks (SQuAD passages), no detectable change on 1 of 2 tasks "
            "(SciQ passages).") in pooled
    rows = [r for r in rep["verdict"]["rows"] if r[0] == "2. it transfers"]
    assert all("context_gain" not in r[1] and "preference" not in r[1] for r in rows)   # no verdict row of its own
    assert rows[-1][1].startswith("pooled") and rows[-1][5].startswith(rep["transfer_pooled"]["arms"]["kv"]["reading"])


def test_the_claim_two_section_carries_the_sentence_and_a_run_without_them_says_nothing(rep):
    section = rep["_md"].split("## claim 2: the transfer suite")[1].split("\n## ")[0]
    assert "kv, the companion measures (what the model prefers" in section
    assert companion_sentence({"mdqa": rep["benchmarks"]["mdqa"]}, "kv") == ""
    assert companion_sentence(rep["benchmarks"], "other-arm") == ""


def test_every_reading_is_named_and_an_empty_cell_is_not_counted():
    """A task whose seeds disagree reads 'inconsistent across seeds': counted and named like the others; a measure
    no item carried (an empty cell) is left out of the count."""
    def bench(companion):
        return {"change": {"kv": {"companion": companion}}}
    benchmarks = {"squad-passages": bench({"preference": {"reading": "better"}}),
                  "sciq-passages": bench({"preference": {"reading": "inconsistent across seeds"}}),
                  "records": bench({"preference": {}})}
    assert companion_readings(benchmarks, "kv") == {
        "preference": {"better": ["SQuAD passages"], "inconsistent across seeds": ["SciQ passages"]}}
    assert companion_sentence(benchmarks, "kv").endswith(
        "preference reads better on 1 of 2 tasks (SQuAD passages), inconsistent across seeds on 1 of 2 tasks "
        "(SciQ passages)")

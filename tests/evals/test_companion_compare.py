"""Paired changes of the companion measures in `needlework compare` and the report, on hand-made runs."""
from __future__ import annotations

import json
import math
import statistics

import pytest

from needlework.evals.compare import compare
from needlework.evals.companion_paired import compare_companion
from needlework.io import write_json, write_jsonl

GAIN = ([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 3.0, 6.0])       # per-item differences 1, 2, 0, 2
PREF = ([0.5, 0.5, 1.0, 0.0], [1.0, 1.0, 1.0, 0.5])


def _rows(side: int, em: list[float]) -> list[dict]:
    rows = []
    for i in range(5):
        scores = {"best_subspan_em": em[i]}
        if i < 4:   # item 4 has no companion measures (e.g. no distractor answers, no contrast): never scored 0
            scores.update(context_gain=GAIN[side][i], preference=PREF[side][i])
        rows.append({"benchmark": "mdqa", "item_id": f"q{i}", "bucket": "position=1", "axes": {"position": 1},
                     "prompt_hash": f"h{i}", "over_context": False, "scores": scores})
    return rows


def _run(folder, side: int, em: list[float]):
    acc = statistics.fmean(em)
    write_json(folder / "results.json", {"benchmarks": {"mdqa": {
        "primary_metric": "best_subspan_em", "by_axis": {},
        "overall": {"metrics": {"best_subspan_em": {"accuracy": acc, "ci95": [0, 1], "n": 5}}}}}})
    write_jsonl(folder / "samples.jsonl", _rows(side, em))
    return folder


def test_compare_shows_the_paired_change_of_each_companion_measure(tmp_path):
    a = _run(tmp_path / "base", 0, [0, 1, 0, 0, 1])
    b = _run(tmp_path / "tuned", 1, [1, 1, 0, 0, 1])
    table, _ = compare(a, b)
    cmp = json.loads((b / "compare" / "compare.json").read_text())["mdqa"]
    gain = cmp["companion"]["context_gain"]
    assert gain["n"] == 4 and gain["before"] == 2.5 and gain["after"] == 3.75 and gain["delta"] == 1.25
    sd = statistics.stdev([1, 2, 0, 2])
    assert gain["sd_diff"] == pytest.approx(sd, abs=1e-6)
    assert gain["t"] == pytest.approx(1.25 / (sd / math.sqrt(4)), abs=1e-3) and gain["share_rose"] == 0.75
    assert gain["ci95"][0] <= 1.25 <= gain["ci95"][1] and "bootstrap" in gain["method"]
    assert gain["missing"]["only_before"] == 0            # item q4 has no measure on either side: not paired
    pref = cmp["companion"]["preference"]
    assert pref["delta"] == pytest.approx(0.375) and pref["chance"] == 0.5
    primary = next(r for r in cmp["rows"] if r["label"] == "overall")
    assert primary["n"] == 5 and primary["diff"] == pytest.approx(0.2)   # exact match unchanged by the companions
    assert "companion [context_gain]" in table and "+1.250" in table
    assert "not whether the model would generate" in table and "chance 0.5" in table


def test_report_tables_show_the_companion_change_beside_exact_match():
    from needlework.report.collect import _benchmark
    from needlework.report.tables import companion_table
    res = {"primary_metric": "best_subspan_em", "by_axis": {},
           "overall": {"metrics": {"best_subspan_em": {"accuracy": 0.4, "ci95": [0, 1], "n": 5, "correct": 2}}}}
    bench = _benchmark("mdqa", {"base": [res], "kv": [res]},
                       {"base": [_rows(0, [0, 1, 0, 0, 1])], "kv": [_rows(1, [1, 1, 0, 0, 1])]})
    comp = bench["change"]["kv"]["companion"]
    assert comp["context_gain"]["delta"] == 1.25 and comp["context_gain"]["reading"] in ("better", "no detectable change")
    t = companion_table("MDQA", bench)
    assert [r[0] for r in t["rows"]] == ["context_gain", "preference"]
    assert t["rows"][0][2:4] == ["2.500", "3.750"] and t["rows"][0][4].startswith("+1.250")
    assert "retrieval specificity" in t["note"]
    need = bench["change"]["kv"]["items_to_detect"]
    assert need["context_gain"] == 5 and set(need) == {"best_subspan_em", "context_gain", "preference"}
    assert "kv: best_subspan_em" in t["note"] and "context_gain 5" in t["note"]


def test_without_companion_scores_there_is_nothing_to_compare():
    rows = [{"item_id": "x", "scores": {"best_subspan_em": 1.0}, "over_context": False}]
    assert compare_companion(rows, [rows]) == {}

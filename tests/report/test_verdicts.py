"""The verdict paragraphs say only what the intervals support: every transfer benchmark in claim 2 (FLenQA
with CoT included, the regenerated one named as such), claim 3 read by equivalence with tasks at the floor
named untestable, and training seeds that disagree named."""
from __future__ import annotations

from needlework.report.tables import table1
from needlework.report.verdicts import general_claim, transfer_claim


def _bench(delta: float, ci: list[float], source: str | None = None, seeds: dict | None = None) -> dict:
    ch = {"delta": delta, "ci95": ci, "p": None, "n": 60, "reading": "better" if ci[0] > 0 else
          "no detectable change", "seeds": seeds}
    return {"primary_metric": "accuracy", "describe": {"source": source} if source else {},
            "overall": {"base": {"accuracy": 0.5}, "ft": {"accuracy": 0.5 + delta}},
            "change": {"ft": {"overall": ch}}, "other_metrics": {}}


def test_claim_two_lists_every_transfer_benchmark():
    rep = {"benchmarks": {"mdqa": _bench(0.12, [0.02, 0.22]), "flenqa": _bench(0.01, [-0.05, 0.07], "generated"),
                          "flenqa-cot": _bench(0.05, [0.01, 0.09], "generated")}}
    text = transfer_claim(rep)
    assert "MDQA (accuracy): base 0.500 -> ft 0.620" in text and ": better" in text
    assert "FLenQA-style (regenerated) (accuracy): base 0.500 -> ft 0.510" in text
    assert "FLenQA-style (regenerated) with CoT (accuracy): base 0.500 -> ft 0.550" in text
    assert "FLenQA (accuracy)" not in text
    released = transfer_claim({"benchmarks": {"flenqa": _bench(0.0, [-0.1, 0.1], "released")}})
    assert "FLenQA (accuracy): base" in released and "FLenQA with CoT" not in released   # only what was run


def test_claim_two_names_seeds_that_disagree():
    seeds = {"seeds": 3, "mean": 0.05, "std": 0.1, "values": [0.12, 0.1, -0.07], "disagree_in_sign": True,
             "conflicting": False}
    text = transfer_claim({"benchmarks": {"mdqa": _bench(0.05, [-0.02, 0.12], seeds=seeds)}})
    assert "per seed +0.120, +0.100, -0.070); the seeds disagree in sign" in text


def _general(kept: dict, untestable: dict) -> dict:
    rows = {"base": {t: {"value": v} for t, v in (("arc_easy", 0.45), ("gsm8k", 0.0))},
            "ft": {t: {"value": v} for t, v in (("arc_easy", 0.452), ("gsm8k", 0.0))}}
    change = {"ft": {"arc_easy": {"delta": 0.002, "ci95": [-0.012, 0.016], "n": 570,
                                  "equivalence": {"ci90": [-0.01, 0.014], "margin": 0.02, "p": 0.004}},
                     "gsm8k": {"delta": 0.0, "ci95": [-0.3, 0.3], "n": 8,
                               "equivalence": {"ci90": [-0.25, 0.25], "margin": 0.02, "p": None}}}}
    return {"table1": {"tasks": ["arc_easy", "gsm8k"], "rows": rows, "change": change, "margin": 0.02,
                       "columns": {"arc_easy": {"metric": "acc", "shots": 0, "note": "validation split",
                                                "beside": {"base": {"acc_norm": 0.41}, "ft": {"acc_norm": 0.42}}},
                                   "gsm8k": {"metric": "exact_match", "shots": 5, "note": None, "beside": {}}},
                       "untestable": untestable, "kept": {"ft": kept},
                       "claim": {"ft": "kept on every testable task"}}}


def test_claim_three_reads_equivalence_and_names_untestable_tasks():
    bench = _general({"arc_easy": "kept (within ±0.02)", "gsm8k": "not testable at this model size"},
                     {"arc_easy": None, "gsm8k": "base 0.000 at the floor (chance 0.000)"})
    text = general_claim({"benchmarks": {"general": bench}})
    assert text.startswith("Claim 3, general ability is kept (general benchmarks, equivalence within a margin). "
                           "ft: kept on every testable task (margin ±0.02).")
    assert ("ARC-Easy (acc, 0-shot): base 0.450 -> ft 0.452, change +0.002 (95% paired interval -0.012 to +0.016; "
            "90% interval -0.010 to +0.014 against ±0.02, TOST p = 0.004, n = 570): kept (within ±0.02)") in text
    assert ("GSM8K (exact_match, 5-shot): base 0.000 -> ft 0.000, change +0.000 (95% paired interval -0.300 to "
            "+0.300; 90% interval -0.250 to +0.250 against ±0.02, n = 8): not testable at this model size (base "
            "0.000 at the floor (chance 0.000))") in text
    assert "no detectable change" not in text


def test_table_one_names_metric_shots_and_substitutes():
    bench = _general({"arc_easy": "kept (within ±0.02)", "gsm8k": "not testable at this model size"},
                     {"arc_easy": None, "gsm8k": "base 0.000 at the floor (chance 0.000)"})
    t = table1(bench, ["base", "ft"])
    assert t["header"] == ["model", "ARC-Easy (acc, 0-shot)", "GSM8K (exact_match, 5-shot)"]
    assert t["rows"][0] == ["base", "0.450 (acc_norm 0.410)", "0.000"]
    assert t["rows"][3] == ["reading ft (±0.02)", "kept (within ±0.02)", "not testable at this model size"]
    assert "ARC-Easy: validation split." in t["note"] and "GSM8K: base 0.000 at the floor" in t["note"]


def test_a_margin_wider_than_the_papers_is_said_to_be():
    bench = _general({"arc_easy": "kept (within ±0.05)", "gsm8k": "not testable at this model size"},
                     {"arc_easy": None, "gsm8k": "base 0.000 at the floor (chance 0.000)"})
    bench["table1"]["margin"] = 0.05
    text = general_claim({"benchmarks": {"general": bench}})
    assert "wider than the paper's near-constant ±0.02" in text and "not smaller ones" in text
    bench["table1"]["margin"] = 0.02
    assert "wider than the paper's" not in general_claim({"benchmarks": {"general": bench}})


def test_claim_two_not_decided_at_this_size_names_the_study_preset():
    """An MDQA change whose interval contains zero: the paragraph and the verdict row say this size does not
    decide claim 2 and name the preset that does (report.study_preset); a decided change names nothing."""
    from needlework.report.verdict_table import verdict_rows
    undecided = {"benchmarks": {"mdqa": _bench(0.02, [-0.08, 0.12])}, "study_preset": "cpu-study"}
    text = transfer_claim(undecided)
    assert "claim 2 is not decided by this run: the cpu-study preset (`needlework run --preset cpu-study`)" in text
    row = next(r for r in verdict_rows(undecided) if r[0].startswith("2.") and r[1].startswith("MDQA"))
    assert row[-1] == "no detectable change: not decided by this run; the cpu-study preset reads it over the whole suite"
    decided = {"benchmarks": {"mdqa": _bench(0.12, [0.02, 0.22])}, "study_preset": "cpu-study"}
    assert "cpu-study" not in transfer_claim(decided)
    assert "cpu-study" not in transfer_claim({"benchmarks": {"mdqa": _bench(0.02, [-0.08, 0.12])}})


def test_the_verdict_table_lists_only_the_transfer_benchmarks_the_run_evaluated():
    from needlework.report.verdict_table import verdict_rows
    mdqa = {"primary_metric": "best_subspan_em", "overall": {"base": {"accuracy": 0.3}, "kv": {"accuracy": 0.35}},
            "change": {"kv": {"overall": {"delta": 0.05, "ci95": [-0.01, 0.11], "n": 45,
                                          "reading": "no detectable change"}}}}
    transfer = [r for r in verdict_rows({"benchmarks": {"mdqa": mdqa}}) if r[0] == "2. it transfers"]
    assert [r[1] for r in transfer] == ["MDQA, best_subspan_em (45)"]   # no row per suite task it did not run
    none = [r for r in verdict_rows({"benchmarks": {}}) if r[0] == "2. it transfers"]
    assert len(none) == 1 and none[0][1] == "transfer benchmarks" and none[0][5] == "not measured in this run"

"""Items needed per measure (evals/power.py) on a hand-computed example, and the script on hand-made runs."""
from __future__ import annotations

import math
import runpy
import sys
from pathlib import Path

import pytest

from needlework.evals.power import items_for_half_width, items_to_detect, power_of, power_table
from needlework.io import write_jsonl

# differences 1, 2, 0, 2: mean 1.25, sd sqrt(2.75 / 3) = 0.957427, effect 1.305582
BEFORE, AFTER = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 3.0, 6.0]


def test_hand_computed_example():
    r = power_of(BEFORE, AFTER, half_width=0.5)
    sd = math.sqrt(2.75 / 3)
    assert r["mean_diff"] == 1.25 and r["sd_diff"] == pytest.approx(sd, abs=1e-6)
    assert r["effect"] == pytest.approx(1.25 / sd, abs=1e-6) and r["design_effect"] == 1.0
    # ((1.959964 + 0.841621) / 1.305582)^2 = 4.6045 -> 5; (1.959964 * 0.957427 / 0.5)^2 = 14.086 -> 15
    assert r["items_to_detect"] == 5 and r["items_for_half_width"] == 15
    assert items_to_detect(0.1) == 785          # (2.801585 / 0.1)^2 = 784.9
    assert items_for_half_width(1.0, 0.05) == 1537   # (1.959964 / 0.05)^2 = 1536.6
    assert items_to_detect(0.0) is None and items_to_detect(math.inf) == 1
    assert items_to_detect(0.5, design_effect=2.0) == 2 * 32 - 1   # 2 x 31.4 = 62.8 -> 63


def test_clusters_raise_the_items_needed():
    before, after = [0.0] * 8, [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    free = power_of(before, after)
    grouped = power_of(before, after, clusters=["a", "a", "b", "b", "c", "c", "d", "d"])
    assert grouped["design_effect"] > 1 and grouped["items_to_detect"] > free["items_to_detect"]


def _rows(vals: dict[str, list[float]]) -> list[dict]:
    n = len(next(iter(vals.values())))
    return [{"benchmark": "mdqa", "item_id": f"q{i}", "over_context": False,
             "scores": {m: v[i] for m, v in vals.items()}} for i in range(n)]


def test_table_and_script_compare_exact_match_with_context_gain(tmp_path, capsys):
    em0, em1 = [0, 0, 1, 0, 1, 0, 0, 1], [0, 1, 1, 0, 1, 0, 0, 1]
    g0, g1 = [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 3.0, 6.0, 2.0, 4.0, 3.0, 6.0]
    before = _rows({"best_subspan_em": em0, "context_gain": g0})
    after = _rows({"best_subspan_em": em1, "context_gain": g1})
    t = power_table(before, after, ["best_subspan_em", "context_gain", "preference"])
    assert set(t) == {"best_subspan_em", "context_gain"}           # preference in neither run: left out
    assert t["context_gain"]["items_to_detect"] < t["best_subspan_em"]["items_to_detect"]
    for name, rows in (("a", before), ("b", after)):
        write_jsonl(tmp_path / name / "samples.jsonl", rows)
    script = Path(__file__).resolve().parents[2] / "scripts" / "companion_power.py"
    argv = sys.argv
    sys.argv = [str(script), str(tmp_path / "a"), str(tmp_path / "b"), "--half-width", "context_gain=0.5"]
    try:
        with pytest.raises(SystemExit) as e:
            runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert (f"context_gain needs {t['context_gain']['items_to_detect']} items where best_subspan_em needs "
            f"{t['best_subspan_em']['items_to_detect']}") in out

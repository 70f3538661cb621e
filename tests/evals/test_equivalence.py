"""Claim 3 as an equivalence test: TOST within a margin on hand-computed cases, floor and ceiling detection,
and the claim's overall reading."""
from __future__ import annotations

import math

import pytest

from needlework.evals.equivalence import (NOT_TESTABLE, Z90, claim_reading, equivalence, kept_reading,
                                          untestable)
from needlework.evals.paired import newcombe_paired, paired_difference


def _pairs(a: int, b: int, c: int, d: int) -> tuple[list[int], list[int]]:
    """a right/right, b right/wrong, c wrong/right, d wrong/wrong (before/after)."""
    return [1] * a + [1] * b + [0] * c + [0] * d, [1] * a + [0] * b + [1] * c + [0] * d


def _reading(a, b, c, d, margin=0.02):
    before, after = _pairs(a, b, c, d)
    eq = equivalence(before, [after], margin)
    return eq, kept_reading(paired_difference(before, after)["ci95"], eq, None)


def test_inside_the_margin_is_kept():
    """1,000 items, 5 flips each way: change 0, se = sqrt(10)/1000 = 0.00316; both one-sided z = 0.02/se = 6.3."""
    eq, r = _reading(600, 5, 5, 390)
    assert eq["equivalent"] and r == "kept (within ±0.02)"
    assert eq["p"] == pytest.approx(0.5 * math.erfc(0.02 / (math.sqrt(10) / 1000) / math.sqrt(2)), rel=1e-6)
    assert eq["ci90"] == [round(x, 6) for x in newcombe_paired(600, 5, 5, 390, z=Z90)[1:]]
    assert -0.02 < eq["ci90"][0] < 0 < eq["ci90"][1] < 0.02


def test_straddling_the_margin_is_inconclusive():
    """100 items, 5 lost and 3 gained: change -0.02, se = sqrt(8 - 0.04)/100 = 0.0282; the lower test has
    z = 0 (p = 0.5), so equivalence is not shown, and the 95% interval contains zero."""
    eq, r = _reading(50, 5, 3, 42)
    assert not eq["equivalent"] and eq["p"] == pytest.approx(0.5)
    assert eq["ci90"][0] < -0.02 < eq["ci90"][1]
    assert r == "inconclusive (interval wider than the margin ±0.02)"


def test_outside_the_margin_reads_its_direction():
    eq, r = _reading(500, 60, 10, 430)          # -0.05 on 1,000 items
    assert not eq["equivalent"] and r == "worse" and eq["ci90"][1] < -0.02
    eq, r = _reading(40, 0, 10, 50)             # +0.10 on 100 items
    assert not eq["equivalent"] and r == "better"


def test_a_detectable_change_inside_the_margin_is_kept():
    """-0.008 on 10,000 items is detectable (the 95% interval excludes 0) but inside ±0.02: kept."""
    eq, r = _reading(6000, 100, 20, 3880)
    assert paired_difference(*_pairs(6000, 100, 20, 3880))["ci95"][1] < 0
    assert eq["equivalent"] and r == "kept (within ±0.02)"


def test_no_discordant_items_on_few_items_is_not_kept():
    """60 items all unchanged: the 90% interval is still about ±0.03 wide, so ±0.02 is not shown."""
    eq, r = _reading(30, 0, 0, 30)
    assert not eq["equivalent"] and r.startswith("inconclusive")


def test_several_runs_use_the_runs_by_items_bootstrap():
    before = [1] * 500 + [0] * 500
    afters = [before[:], before[:]]
    afters[1][0] = 0
    eq = equivalence(before, afters, 0.02)
    assert eq["equivalent"] and eq["p"] is None and "two-level" in eq["method"]


def test_floor_and_ceiling():
    assert untestable(0.26, 300, 0.25).startswith("base 0.260 at the floor (chance 0.250")   # <= chance + 0.02
    assert "Wilson lower bound" in untestable(0.30, 100, 0.25)     # 30/100: its interval reaches chance
    assert untestable(0.40, 300, 0.25) is None
    assert untestable(0.0, 30, 0.0) == "base 0.000 at the floor (chance 0.000)"            # generative at 0
    assert untestable(0.033, 30, 0.0) is None
    assert untestable(0.99, 100, 0.25) == "base 0.990 at the ceiling"
    assert kept_reading([-0.3, 0.3], {"ci90": [-0.2, 0.2], "equivalent": False, "margin": 0.02},
                        "base 0.000 at the floor (chance 0.000)") == NOT_TESTABLE


def test_claim_reading_needs_every_testable_task():
    kept = "kept (within ±0.02)"
    assert claim_reading({"arc": kept, "piqa": kept, "gsm8k": NOT_TESTABLE}) == "kept on every testable task"
    assert claim_reading({"arc": kept, "piqa": "better"}) == "kept on every testable task (better on piqa)"
    assert claim_reading({"arc": kept, "piqa": "worse"}) == "not kept: worse on piqa"
    assert claim_reading({"arc": kept, "piqa": "inconclusive (interval wider than the margin ±0.02)"},
                         {"piqa": "PIQA"}) == "inconclusive: not shown within the margin on PIQA"
    assert claim_reading({"gsm8k": NOT_TESTABLE}) == "not testable at this model size on any task"

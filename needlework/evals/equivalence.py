"""Claim 3, "general ability is kept", as an equivalence question with a margin, not a significance test.

"No detectable change" only says an interval contains zero; an interval of ±0.30 contains zero and rules
out nothing. The paper's claim is quantitative (fine-tuned within about a point of the base model on every
Table 1 task, where the baselines lose 2-6 points), so each task is tested for equivalence within a margin m
(report.equivalence_margin, default 0.02 absolute: the size the paper treats as "almost constant"):

- two one-sided tests at 5% each (TOST), decided by the interval-inclusion rule: the 90% paired interval of
  the change lies inside (-m, +m). For 0/1 scores of one run that is Newcombe's paired interval at z = 1.645
  (the same method as the 95% one the report shows); for several runs, the two-level bootstrap over runs and
  items at 90%. The TOST p (the larger one-sided p, normal approximation of the paired difference) is shown
  beside it for one run of 0/1 scores.
- A task the base model cannot do is no evidence of anything kept: at the floor (its accuracy at most
  chance + FLOOR_EPSILON, or its 95% Wilson interval reaching down to chance; chance is 1/choices for
  multiple choice, 0 for generative tasks) or at the ceiling (at least 1 - FLOOR_EPSILON), the task reads
  "not testable at this model size".

Readings, in this order: not testable; "kept (within ±m)"; "better" / "worse" (the 95% interval above /
below zero, and not inside the margin); else "inconclusive (interval wider than the margin)".
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from .metrics import wilson
from .paired import (binary_scores, cluster_bootstrap, clustered, newcombe_paired, paired_bootstrap, paired_table,
                     rao_scott, reading, seed_item_bootstrap)

DEFAULT_MARGIN = 0.02
FLOOR_EPSILON = 0.02
Z90 = 1.6448536269514722
KEPT, NOT_TESTABLE, INCONCLUSIVE = "kept", "not testable at this model size", "inconclusive"


def _normal_sf(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2))


def _tost_p(b: int, c: int, n: int, margin: float) -> float:
    """The larger of the two one-sided p-values for |change| < margin (paired 0/1 scores, normal
    approximation: se of (c - b) / n is sqrt(b + c - (c - b)^2 / n) / n)."""
    d = (c - b) / n
    se = math.sqrt(max(0.0, b + c - (c - b) ** 2 / n)) / n
    if se == 0:
        return 0.0 if abs(d) < margin else 1.0
    return max(_normal_sf((d + margin) / se), _normal_sf((margin - d) / se))


def equivalence(before: Sequence[float], afters: Sequence[Sequence[float]], margin: float,
                clusters: Sequence[str] | None = None) -> dict[str, Any]:
    """{margin, ci90, equivalent, p (one run of 0/1 scores only), method} for aligned per-item scores:
    `before` of the base model, `afters` one list per fine-tuned run, `clusters` as in paired.paired_difference."""
    if not before or not afters:
        return {"margin": margin, "ci90": None, "equivalent": False, "p": None, "method": None}
    binary = binary_scores(before, afters)
    p = None
    if clustered(clusters) and binary:
        rs = rao_scott(before, afters, clusters, z=Z90)
        lo, hi = rs["lo"], rs["hi"]
        if len(afters) > 1:
            _, blo, bhi = cluster_bootstrap(before, afters, clusters, level=0.90)
            lo, hi = min(lo, blo), max(hi, bhi)
        t = rs["table"]
        n = sum(t.values()) / rs["deff"]
        p = _tost_p(t["b"] / rs["deff"], t["c"] / rs["deff"], n, margin) if len(afters) == 1 else None
        method = "TOST: 90% Newcombe interval on the table divided by the design effect (Rao-Scott) inside the margin"
    elif clustered(clusters):
        _, lo, hi = cluster_bootstrap(before, afters, clusters, level=0.90)
        method = "TOST: 90% bootstrap interval over clusters (and runs) inside the margin"
    elif len(afters) == 1 and binary:
        t = paired_table(before, afters)
        _, lo, hi = newcombe_paired(t["a"], t["b"], t["c"], t["d"], z=Z90)
        p, method = _tost_p(t["b"], t["c"], len(before), margin), "TOST: 90% Newcombe paired interval inside the margin"
    elif len(afters) == 1:
        _, lo, hi = paired_bootstrap(before, afters[0], level=0.90)
        method = "TOST: 90% paired bootstrap interval inside the margin"
    else:
        _, lo, hi = seed_item_bootstrap(before, afters, level=0.90)
        method = "TOST: 90% two-level (runs x items) bootstrap interval inside the margin"
    return {"margin": margin, "ci90": [round(lo, 6), round(hi, 6)], "equivalent": -margin < lo and hi < margin,
            "p": None if p is None else float(f"{p:.6g}"), "method": method}


def untestable(base_accuracy: float | None, n: int, chance: float, eps: float = FLOOR_EPSILON) -> str | None:
    """Why a task cannot show whether ability was kept (the base model at the floor or the ceiling), or None."""
    if base_accuracy is None or not n:
        return "no base score"
    lower = wilson(round(base_accuracy * n), n)[0]
    if base_accuracy <= chance + eps or (chance > 0 and lower <= chance):
        return (f"base {base_accuracy:.3f} at the floor (chance {chance:.3f}"
                + (f", 95% Wilson lower bound {lower:.3f}" if chance > 0 else "") + ")")
    if base_accuracy >= 1 - eps:
        return f"base {base_accuracy:.3f} at the ceiling"
    return None


def kept_reading(ci95: Sequence[float] | None, eq: dict | None, why_untestable: str | None) -> str:
    """The claim-3 reading of one task's change (see the module docstring for the order)."""
    if why_untestable:
        return NOT_TESTABLE
    if not ci95 or not eq or eq.get("ci90") is None:
        return "no interval"
    if eq["equivalent"]:
        return f"{KEPT} (within ±{eq['margin']:g})"
    plain = reading(ci95)
    if plain in ("better", "worse"):
        return plain
    return f"{INCONCLUSIVE} (interval wider than the margin ±{eq['margin']:g})"


def claim_reading(readings: dict[str, str], names: dict[str, str] | None = None) -> str:
    """The claim as a whole from its tasks' readings (kept only when every testable task is kept or better);
    `names` turns task keys into the names a reader sees."""
    testable = {(names or {}).get(t, t): r for t, r in readings.items() if r != NOT_TESTABLE}
    if not testable:
        return "not testable at this model size on any task"
    worse = [t for t, r in testable.items() if r == "worse"]
    if worse:
        return "not kept: worse on " + ", ".join(worse)
    better = [t for t, r in testable.items() if r == "better"]
    open_ = [t for t, r in testable.items() if not r.startswith(KEPT) and r != "better"]
    if not open_:
        return "kept on every testable task" + (f" (better on {', '.join(better)})" if better else "")
    return "inconclusive: not shown within the margin on " + ", ".join(open_)

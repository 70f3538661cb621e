"""A paired before/after difference for 0/1 per-item scores, for the transfer matrix.

Stand-in for needlework/evals/paired.py (written in parallel): same call, `paired_difference(before, after)`,
and the same keys in its answer, so the integrator swaps the import and deletes this file.

Interval: Newcombe (1998, Stat Med 17:2622) method 10 for paired proportions -- two Wilson intervals
combined with the continuity-corrected correlation phi of the 2x2 table. Paired, because base and fine-tuned
models answer the same items: pairing removes the between-item variance that an independent-samples interval
(collect._change) keeps.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from .metrics import Z95, wilson

METHOD = "Newcombe paired (method 10) 95% interval"


def _phi(a: int, b: int, c: int, d: int) -> float:
    n = a + b + c + d
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins == 0:
        return 0.0
    ad_bc = a * d - b * c
    if ad_bc > 0:   # Newcombe's continuity correction shrinks a positive correlation by n/2
        ad_bc = max(ad_bc - n / 2, 0.0)
    return ad_bc / math.sqrt(margins)


def paired_difference(before: Sequence[float], after: Sequence[float], z: float = Z95) -> dict[str, Any]:
    """after - before over aligned 0/1 scores (before[i] and after[i] are the same item).

    table: a = right before and after, b = right before only (lost), c = right after only (gained),
    d = wrong both times."""
    if len(before) != len(after):
        raise ValueError(f"paired_difference: {len(before)} scores before, {len(after)} after")
    if any(x not in (0, 1) for x in (*before, *after)):
        raise ValueError("paired_difference: scores must be 0 or 1")
    n = len(before)
    if n == 0:
        return {"n": 0, "before": None, "after": None, "delta": None, "ci95": None, "table": None,
                "method": None, "significant": False}
    pairs = list(zip(before, after))
    a = sum(1 for x, y in pairs if x and y)
    b = sum(1 for x, y in pairs if x and not y)
    c = sum(1 for x, y in pairs if not x and y)
    d = n - a - b - c
    p0, p1 = (a + b) / n, (a + c) / n
    l0, u0 = wilson(a + b, n, z)
    l1, u1 = wilson(a + c, n, z)
    phi = _phi(a, b, c, d)
    diff = p1 - p0
    lo = diff - math.sqrt(max(0.0, (p1 - l1) ** 2 + (u0 - p0) ** 2 - 2 * phi * (p1 - l1) * (u0 - p0)))
    hi = diff + math.sqrt(max(0.0, (u1 - p1) ** 2 + (p0 - l0) ** 2 - 2 * phi * (u1 - p1) * (p0 - l0)))
    lo, hi = max(-1.0, lo), min(1.0, hi)
    return {"n": n, "before": round(p0, 6), "after": round(p1, 6), "delta": round(diff, 6),
            "ci95": [round(lo, 6), round(hi, 6)], "table": {"a": a, "b": b, "c": c, "d": d},
            "method": METHOD, "significant": lo > 0 or hi < 0}

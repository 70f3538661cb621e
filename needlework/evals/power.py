"""How many items a paired before/after measure needs, from paired per-item scores measured once (a dev half).

For per-item differences with mean m and standard deviation s (sample sd), and the design effect deff of the
layout (several items per question: evals/paired.design_effect; 1 for independent items):

- items for a 95% interval of half-width h:         n = deff * (z_0.975 * s / h)^2
- items to detect the observed change (two-sided 5%, 80% power by default), from the standardised effect
  d = m / s:                                         n = deff * ((z_0.975 + z_power) / d)^2

Both are the normal approximation behind the paired t test and the bootstrap interval the comparisons use; they
size a study, they are not its result. Measures in different units (exact match in points, context gain in nats)
are compared through the second: "context gain needs N items where exact match needs M" to resolve the change each
showed on the same items. A measure whose difference never varies (s = 0) needs one item if it moved and cannot
be resolved if it did not (None).
"""
from __future__ import annotations

import math
import statistics
from statistics import NormalDist
from typing import Any, Sequence

ALPHA = 0.05
POWER = 0.8


def _z(p: float) -> float:
    return NormalDist().inv_cdf(p)


def items_for_half_width(sd: float, half_width: float, design_effect: float = 1.0, alpha: float = ALPHA) -> int:
    if half_width <= 0:
        raise ValueError("half_width must be positive")
    return max(1, math.ceil(design_effect * (_z(1 - alpha / 2) * sd / half_width) ** 2))


def items_to_detect(effect: float | None, design_effect: float = 1.0, alpha: float = ALPHA,
                    power: float = POWER) -> int | None:
    """Items for a two-sided test at `alpha` to find a standardised effect (mean diff / sd diff) with `power`."""
    if effect is None:
        return None
    if math.isinf(effect):
        return 1
    if effect == 0:
        return None
    return max(2, math.ceil(design_effect * ((_z(1 - alpha / 2) + _z(power)) / abs(effect)) ** 2))


def power_of(before: Sequence[float], after: Sequence[float], half_width: float | None = None,
             clusters: Sequence[str] | None = None, alpha: float = ALPHA, power: float = POWER) -> dict[str, Any]:
    """One measure's paired scores (before[i], after[i]: the same item) -> {n, mean_diff, sd_diff, effect,
    design_effect, items_to_detect, items_for_half_width (when half_width is given)}."""
    from .paired import clustered, design_effect
    if len(before) != len(after) or len(before) < 2:
        raise ValueError("power_of: needs at least two paired items, as many before as after")
    diffs = [y - x for x, y in zip(before, after)]
    mean, sd = statistics.fmean(diffs), statistics.stdev(diffs)
    effect = mean / sd if sd > 0 else (math.inf if mean else 0.0)
    deff = design_effect(before, [after], clusters) if clusters is not None and clustered(clusters) else 1.0
    out = {"n": len(diffs), "mean_diff": round(mean, 6), "sd_diff": round(sd, 6),
           "effect": round(effect, 6) if math.isfinite(effect) else effect, "design_effect": round(deff, 4),
           "items_to_detect": items_to_detect(effect, deff, alpha, power), "alpha": alpha, "power": power}
    if half_width is not None:
        out["half_width"] = half_width
        out["items_for_half_width"] = items_for_half_width(sd, half_width, deff, alpha)
    return out


def power_table(before_rows: list[dict], after_rows: list[dict], metrics: Sequence[str],
                half_widths: dict[str, float] | None = None) -> dict[str, dict]:
    """Per metric, power_of over the items both runs scored with it (samples.jsonl rows joined on item id, the
    rows' `cluster` as clusters); metrics absent from either run are left out."""
    after = {r["item_id"]: r for r in after_rows if not r.get("over_context")}
    out = {}
    for m in metrics:
        pairs = [(r, after[r["item_id"]]) for r in before_rows if not r.get("over_context")
                 and r["item_id"] in after and m in r["scores"] and m in after[r["item_id"]]["scores"]]
        if len(pairs) < 2:
            continue
        out[m] = power_of([b["scores"][m] for b, _ in pairs], [a["scores"][m] for _, a in pairs],
                          (half_widths or {}).get(m), [b.get("cluster") or b["item_id"] for b, _ in pairs])
    return out

"""Paired before/after changes of the companion measures (evals/companion.py), for `needlework compare` and the
report: the same item join and statistics as every other change (evals.paired_runs.compare_items: a paired
bootstrap over items, or over clusters where one question is asked at several gold positions; over several
training seeds, runs and items resampled), on the items where both sides have the measure (an item over the
context, or without distractor answers, has none and is counted in `missing`, never scored 0).

Beside the interval: context gain, in nats, also gets its paired t (mean / (sd / sqrt n) of the per-item
differences) and the share of items whose gain rose; preference is an accuracy with chance level 0.5, so its
before and after are read against 0.5 as well as against each other.
"""
from __future__ import annotations

import math
import statistics
from typing import Any

from .companion import MEANING, MEASURES
from .paired_runs import compare_items

UNITS = {"context_gain": "nats", "preference": "share of wrong answers ranked below the gold one (chance 0.5)"}


def has_companion(rows: list[dict]) -> bool:
    return any(m in r.get("scores", {}) for r in rows for m in MEASURES)


def _with(rows: list[dict], m: str) -> list[dict]:
    return [r for r in rows if m in r.get("scores", {}) and not r.get("over_context")]


def _extras(before: list[dict], afters: list[list[dict]], m: str) -> dict[str, Any]:
    """Paired t and the share of items that rose, over the items every side has (after: mean over seeds)."""
    b = {r["item_id"]: r["scores"][m] for r in before}
    a = [{r["item_id"]: r["scores"][m] for r in rows} for rows in afters]
    ids = [i for i in b if all(i in x for x in a)]
    diffs = [statistics.fmean(x[i] for x in a) - b[i] for i in ids]
    if len(diffs) < 2:
        return {}
    sd = statistics.stdev(diffs)
    t = statistics.fmean(diffs) / (sd / math.sqrt(len(diffs))) if sd > 0 else None
    return {"sd_diff": round(sd, 6), "t": round(t, 3) if t is not None else None,
            "share_rose": round(sum(d > 0 for d in diffs) / len(diffs), 6)}


def compare_companion(before: list[dict], afters: list[list[dict]]) -> dict[str, dict]:
    """{measure: overall paired change (paired_runs' cell: n, before, after, delta, ci95, method, ...) with
    sd_diff, t, share_rose, unit and meaning} for each measure both sides have; {} when neither has any."""
    out = {}
    for m in MEASURES:
        b, a = _with(before, m), [_with(rows, m) for rows in afters]
        if not b or not all(a):
            continue
        res = compare_items(b, a, [m], axes=[])
        cell = res["metrics"][m]["overall"]
        if not cell["n"]:
            continue
        out[m] = {**cell, **_extras(b, a, m), "unit": UNITS[m], "measures": MEANING[m],
                  "missing": res["missing"], **({"chance": 0.5} if m == "preference" else {})}
    return out

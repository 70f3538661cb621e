"""Scored samples -> per-bucket, per-axis and overall accuracies with 95% Wilson intervals.

Rule for prompts over the model's context: they are not sent, not scored and not counted in `n`; each
bucket reports them as `n_over_context` (and the overall block sums them), so a short-context model shows
as "unmeasured", never as silently dropped or as wrong. `overall` pools every scored sample (its Wilson
interval is over the pooled count); `mean_over_buckets` is the unweighted mean of bucket accuracies, which
equals the pooled accuracy when buckets hold equally many scored samples (the default designs).
Where a group pools items of one cluster (one MDQA question at every gold position, one kv sample at every
depth: rows carry `cluster`), its Wilson interval is built on the count divided by the group's design effect
(evals/paired.py), and the block says `design_effect`: those items are not independent.
`prompt_tokens_mean` is the mean prompt length the backend counted over every item of a group whose count is
known, sent or not (it says how long the group's prompts are, e.g. a length bucket's tokens for a heatmap).
"""
from __future__ import annotations

from typing import Any

from .metrics import wilson
from .paired import clustered, design_effect


def _stats(rows: list[dict], metrics: tuple[str, ...]) -> dict[str, Any]:
    scored = [r for r in rows if not r["over_context"]]
    out: dict[str, Any] = {"n": len(scored), "n_over_context": len(rows) - len(scored), "metrics": {}}
    tokens = [r["prompt_tokens"] for r in rows if r.get("prompt_tokens") is not None]
    if tokens:
        out["prompt_tokens_mean"] = round(sum(tokens) / len(tokens), 1)
    clusters = [r.get("cluster") or r.get("item_id") or str(i) for i, r in enumerate(scored)]
    for m in metrics:
        scores = [r["scores"].get(m, 0.0) for r in scored]
        k, n = sum(scores), len(scored)
        deff = design_effect([0.0] * n, [scores], clusters) if clustered(clusters) else 1.0
        lo, hi = wilson(k / deff, n / deff)
        out["metrics"][m] = {"accuracy": round(k / n, 6) if n else None, "correct": k, "n": n,
                             "ci95": [round(lo, 6), round(hi, 6)],
                             **({"design_effect": round(deff, 4)} if deff > 1 else {})}
    return out


def _group(rows: list[dict], key) -> list[tuple[Any, list[dict]]]:
    groups: dict[Any, list[dict]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return list(groups.items())


def _sort_key(v: Any):
    return (0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, str(v))


def aggregate(rows: list[dict], metrics: tuple[str, ...], axes: tuple[str, ...]) -> dict[str, Any]:
    """rows: {axes, scores, over_context}; returns buckets (item order), by_axis (sorted values), overall."""
    buckets = []
    for label, grp in _group(rows, lambda r: r["bucket"]):
        buckets.append({"label": label, "axes": grp[0]["axes"], **_stats(grp, metrics)})
    by_axis = {}
    for ax in axes:
        groups = _group(rows, lambda r: r["axes"].get(ax))
        groups.sort(key=lambda g: _sort_key(g[0]))
        by_axis[ax] = [{"value": v, **_stats(grp, metrics)} for v, grp in groups]
    overall = _stats(rows, metrics)
    for m in metrics:
        accs = [b["metrics"][m]["accuracy"] for b in buckets if b["metrics"][m]["accuracy"] is not None]
        overall["metrics"][m]["mean_over_buckets"] = round(sum(accs) / len(accs), 6) if accs else None
    return {"primary_metric": metrics[0], "overall": overall, "buckets": buckets, "by_axis": by_axis}

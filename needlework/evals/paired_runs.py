"""The one before/after comparison of evaluation runs, used by `needlework compare` and by the report.

Per-item scores of both runs are joined on item id; every difference (overall, per axis value such as gold
position or length, per bucket) is a paired one (needlework.evals.paired). The "after" side may be several
runs (one per training seed) of the same items: then the interval is a two-level bootstrap over runs and items
(paired.seed_item_bootstrap) and each seed's own paired difference is kept (mean ± std, per-seed intervals,
whether the seeds disagree).
Items found on one side only, items whose prompts differ under the same id (`prompt_hash`: runs made with other
seeds or data), or over the model's context on either side, are excluded from the pairs and counted in `missing`
(`prompt_differs`) / `n_over_context`, never dropped silently.

Per-item rows come from `<run>/samples.jsonl`: the runner writes every benchmark's rows there, `general`'s
included (item_id "<harness task>/<doc_id>", scores.score).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import ConfigError
from ..io import read_jsonl
from .equivalence import equivalence
from .paired import (METHOD_SEEDS, METHOD_SEEDS_CLUSTER, across_seeds, binary_scores, cluster_bootstrap, clustered,
                     paired_difference, rao_scott, seed_item_bootstrap)
from .pooled import change_se

MISSING_EXAMPLES = 5   # item ids shown per side when items are missing


def item_rows(run: str | Path) -> dict[str, list[dict]]:
    """benchmark -> its per-item rows in run order; `run` is an eval run folder (or its results.json)."""
    p = Path(run)
    folder = p.parent if p.name == "results.json" else p
    out: dict[str, list[dict]] = {}
    samples = folder / "samples.jsonl"
    if samples.exists():
        for r in read_jsonl(samples):
            out.setdefault(r["benchmark"], []).append(r)
    return out


def _scored(rows: list[dict]) -> dict[str, dict]:
    seen: dict[str, dict] = {}
    for r in rows:
        if r["item_id"] in seen:
            raise ConfigError(f"item id {r['item_id']!r} occurs twice in one run: pairing needs unique ids")
        seen[r["item_id"]] = r
    return seen


def _same_prompt(x: dict, y: dict) -> bool:
    """Whether two rows of one item id asked the same prompt (rows without a prompt hash cannot be checked)."""
    hx, hy = x.get("prompt_hash"), y.get("prompt_hash")
    return hx is None or hy is None or hx == hy


def _missing(before: dict[str, dict], afters: list[dict[str, dict]]) -> dict[str, Any]:
    only_before = [i for i in before if any(i not in a for a in afters)]
    only_after = sorted({i for a in afters for i in a if i not in before})
    return {"only_before": len(only_before), "only_after": len(only_after),
            "examples_only_before": only_before[:MISSING_EXAMPLES],
            "examples_only_after": only_after[:MISSING_EXAMPLES]}


def _one(pairs: list[tuple[dict, list[dict]]], metric: str, margin: float | None = None) -> dict[str, Any]:
    """Paired difference of one scope (with several after-runs: the runs x items interval, each run kept);
    with a `margin`, also the equivalence test within it (needlework.evals.equivalence)."""
    before = [b["scores"].get(metric, 0.0) for b, _ in pairs]
    afters = [[a[s]["scores"].get(metric, 0.0) for _, a in pairs] for s in range(len(pairs[0][1]))] if pairs else []
    clusters = [cluster_of(b) for b, _ in pairs]
    res = _difference(before, afters, clusters)
    if res["n"]:   # the standard error a pool over tasks weighs this change by (evals/pooled.py)
        res["se"] = float(f"{change_se(before, afters, clusters):.6g}")
    if margin is not None and res["n"]:
        res["equivalence"] = equivalence(before, afters, margin, clusters)
    return res


def cluster_of(row: dict) -> str:
    """The question or sample an item belongs to (the runner writes `cluster` where a benchmark sets one)."""
    return row.get("cluster") or row["item_id"]


def _difference(before: list[float], afters: list[list[float]], clusters: list[str]) -> dict[str, Any]:
    if len(afters) <= 1:
        return paired_difference(before, afters[0] if afters else [], clusters)
    mean_after = [sum(col) / len(col) for col in zip(*afters)]
    res = paired_difference(before, mean_after, clusters)
    if clustered(clusters):
        (delta, lo, hi), method = cluster_bootstrap(before, afters, clusters), METHOD_SEEDS_CLUSTER
    else:
        (delta, lo, hi), method = seed_item_bootstrap(before, afters), METHOD_SEEDS
    # a bootstrap of runs that all agree collapses: never narrower than the pairs allow
    if binary_scores(before, afters):
        rs = rao_scott(before, afters, clusters)
        if rs["lo"] < lo or rs["hi"] > hi:
            lo, hi = min(lo, rs["lo"]), max(hi, rs["hi"])
            method += "; widened to the Rao-Scott interval of every run's pairs"
    res.update(delta=round(delta, 6), ci95=[round(lo, 6), round(hi, 6)], p=None, method=method,
               significant=lo > 0 or hi < 0,
               seeds=across_seeds([paired_difference(before, a, clusters) for a in afters]))
    return res


def compare_items(before: list[dict], afters: list[list[dict]], metrics: list[str] | tuple[str, ...],
                  axes: list[str] | tuple[str, ...] | None = None, margin: float | None = None) -> dict[str, Any]:
    """{metrics: {metric: {overall, by_axis: {axis: [{value, ...}]}, buckets: [{label, ...}]}}, n_pairs,
    n_over_context, missing} for one benchmark: before = one run's rows, afters = one list per seed; with a
    `margin`, every cell also carries its equivalence test."""
    b = _scored(before)
    a = [_scored(rows) for rows in afters]
    shared = [i for i in b if all(i in x for x in a)]
    # the same id must mean the same prompt (runs made with another seed or data share ids, not prompts)
    mismatch = [i for i in shared if any(not _same_prompt(b[i], x[i]) for x in a)]
    shared = [i for i in shared if i not in set(mismatch)]
    over = {i for i in shared if b[i]["over_context"] or any(x[i]["over_context"] for x in a)}
    pairs = [(b[i], [x[i] for x in a]) for i in shared if i not in over]
    if axes is None:
        axes = list(dict.fromkeys(k for r, _ in pairs for k in r.get("axes", {})))
    out: dict[str, Any] = {"n_pairs": len(pairs), "n_over_context": len(over),
                           "missing": {**_missing(b, a), "prompt_differs": len(mismatch),
                                       "examples_prompt_differs": mismatch[:MISSING_EXAMPLES]},
                           "seeds": len(afters), "metrics": {}}
    groups = {ax: dict(sorted(_group(pairs, lambda r, ax=ax: r["axes"].get(ax)).items(), key=_value_order))
              for ax in axes}
    buckets = _group(pairs, lambda r: r["bucket"])
    for m in metrics:
        out["metrics"][m] = {"overall": _one(pairs, m, margin),
                             "by_axis": {ax: [{"value": v, **_one(g, m, margin)} for v, g in vals.items()]
                                         for ax, vals in groups.items()},
                             "buckets": [{"label": lb, **_one(g, m, margin)} for lb, g in buckets.items()]}
    return out


def _value_order(item: tuple) -> tuple:
    """Axis values: numbers in order, then the rest by name (as aggregate.py sorts them)."""
    v = item[0]
    return (0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, str(v))


def _group(pairs: list, key) -> dict[Any, list]:
    """Pairs grouped by key(before row), groups in first-seen order."""
    out: dict[Any, list] = {}
    for p in pairs:
        out.setdefault(key(p[0]), []).append(p)
    return out


def compare_runs(before: dict[str, list[dict]], afters: list[dict[str, list[dict]]],
                 metrics: dict[str, list[str]] | None = None) -> dict[str, dict]:
    """Every benchmark present in the before run and in every after run (item_rows output), each compared
    on `metrics[benchmark]` (default: every score key of its first row)."""
    out = {}
    for name, rows in before.items():
        if not rows or not all(name in a for a in afters):
            continue
        ms = (metrics or {}).get(name) or list(rows[0]["scores"])
        out[name] = compare_items(rows, [a[name] for a in afters], ms)
    return out

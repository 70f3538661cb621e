"""Paired before/after statistics: base and fine-tuned models answer the same items, so the change is
measured per item and its interval is far narrower than one built from two independent accuracies.

Methods (all 95%):
- 0/1 scores: the 2x2 table of (before, after) per item. The difference after - before = (c - b) / n, where
  b = right before and wrong after, c = wrong before and right after (the discordant pairs). Interval:
  Newcombe's hybrid score ("square-and-add") interval for paired proportions, his method 10 (Newcombe 1998,
  Stat Med 17:2635; Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency Tables", ch. 8): two
  Wilson intervals combined with the estimated correlation phi of the two proportions, phi continuity-
  corrected as Newcombe defines it. p-value: the exact McNemar test, a two-sided exact binomial test of
  b against Binomial(b + c, 1/2) (equal to scipy.stats.binomtest(b, b + c).pvalue). The exact test is
  conservative: with few discordant pairs it can give p > 0.05 while the interval excludes 0 (b=1, c=7:
  p = 0.070, interval 0.026 to 0.507). The plain reading follows the interval; p is shown beside it.
- Any other scores (fractions, seed-averaged items): a paired bootstrap over items, percentile interval,
  BOOTSTRAP_RESAMPLES resamples drawn from numpy's default_rng(BOOTSTRAP_SEED), so the interval is the same
  on every run; no p-value.
- Across seeds (several fine-tuned runs of one recipe on the same items): the interval comes from a two-level
  bootstrap that resamples training runs and items (`seed_item_bootstrap`), so it widens when the runs
  disagree; averaging items over seeds first would treat three training runs as one and could read "better"
  when one run got worse. Each seed's own paired difference and interval is kept (`across_seeds`), with
  mean ± sample std and whether the seeds disagree in sign.
- Clustered items (several items that are one question or one sample in other layouts: an MDQA question at each
  gold position, a key-value sample at each depth, a FLenQA instance at each length): their outcomes are
  correlated, so counting them as independent pairs gives an interval that is too narrow. Where a scope holds
  a cluster of more than one item:
  - 0/1 scores: the Rao-Scott adjustment (Rao & Scott 1992, Biometrics 48:577): the design effect of the mean
    change (its cluster-robust variance over the variance it would have with independent items, never below
    1) divides the 2x2 table, and Newcombe's interval and McNemar's test (its chi-square form, the counts no
    longer integers) are computed on those effective counts. Unlike a bootstrap it never degenerates: 18 items
    all going from wrong to right still get an interval, not [+1, +1].
  - other scores: a paired bootstrap that resamples whole clusters (Field & Welsh 2007), percentile interval,
    no p-value.
  With several runs, runs and clusters are resampled, and for 0/1 scores the interval is widened to contain the
  Rao-Scott interval of all runs' pairs pooled. A scope where every cluster is one item (one gold position) is
  unchanged.
A difference "is detectable" when its interval excludes zero (`reading`); whether it is small enough to call
"kept" is an equivalence question with a margin (needlework.evals.equivalence).
"""
from __future__ import annotations

import math
import statistics
from typing import Any, Sequence

from .metrics import Z95, wilson

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20240601
METHOD_MCNEMAR = "paired 0/1: Newcombe hybrid score interval (method 10), exact McNemar p"
METHOD_BOOTSTRAP = f"paired bootstrap over items ({BOOTSTRAP_RESAMPLES} resamples, percentile interval)"
METHOD_RAO_SCOTT = ("paired 0/1 over clustered items: Newcombe interval (method 10) and McNemar chi-square p on "
                    "the table divided by the design effect (Rao-Scott)")
METHOD_CLUSTER = (f"paired bootstrap over clusters (the items of one question or sample resampled together; "
                  f"{BOOTSTRAP_RESAMPLES} resamples, percentile interval)")
METHOD_SEEDS_CLUSTER = (f"bootstrap over training runs and clusters (the items of one question or sample resampled "
                        f"together; {BOOTSTRAP_RESAMPLES} resamples, percentile interval)")
METHOD_SEEDS = (f"two-level bootstrap over training runs and items ({BOOTSTRAP_RESAMPLES} resamples, percentile "
                "interval)")


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p: twice the smaller binomial tail of the discordant pairs (capped at 1).

    For p = 1/2 the binomial is symmetric, so this equals the "sum of outcomes no more likely than the
    observed one" rule scipy.stats.binomtest uses. No discordant pair: p = 1 (no evidence of change)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    # P(X <= k) for X ~ Bin(n, 1/2), in floating point (big-integer binomials take seconds at n ~ 10^4):
    # the largest term pmf(k) from log-gammas, then the smaller ones by pmf(i-1) = pmf(i) * i / (n - i + 1)
    log_pk = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)
    total, term = 1.0, 1.0
    for i in range(k, 0, -1):
        term *= i / (n - i + 1)
        total += term
        if term < 1e-17 * total:
            break
    return min(1.0, 2 * math.exp(log_pk) * total)


def _phi(a: int, b: int, c: int, d: int) -> float:
    """Newcombe's continuity-corrected correlation of the two paired proportions (0 if a margin is empty)."""
    rows = (a + b, c + d)
    cols = (a + c, b + d)
    if 0 in rows or 0 in cols:
        return 0.0
    n = a + b + c + d
    denom = math.sqrt(rows[0] * rows[1] * cols[0] * cols[1])
    ad_bc = a * d - b * c
    if ad_bc > n / 2:
        return (ad_bc - n / 2) / denom
    if ad_bc >= 0:
        return 0.0
    return ad_bc / denom


def newcombe_paired(a: int, b: int, c: int, d: int, z: float = Z95) -> tuple[float, float, float]:
    """(after - before, lower, upper) for the paired table a = right/right, b = right/wrong (before/after),
    c = wrong/right, d = wrong/wrong; n = a + b + c + d must be > 0."""
    n = a + b + c + d
    if n <= 0:
        raise ValueError("newcombe_paired: no pairs")
    p_before, p_after = (a + b) / n, (a + c) / n
    lb, ub = wilson(a + b, n, z)
    la, ua = wilson(a + c, n, z)
    phi = _phi(a, b, c, d)
    diff = p_after - p_before
    # squares of the distances from each estimate to its Wilson limit, combined with the correlation
    lo = diff - math.sqrt(max(0.0, (p_after - la) ** 2 + (ub - p_before) ** 2
                              - 2 * phi * (p_after - la) * (ub - p_before)))
    hi = diff + math.sqrt(max(0.0, (ua - p_after) ** 2 + (p_before - lb) ** 2
                              - 2 * phi * (ua - p_after) * (p_before - lb)))
    return diff, max(-1.0, lo), min(1.0, hi)


def paired_bootstrap(before: Sequence[float], after: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES,
                     seed: int = BOOTSTRAP_SEED, level: float = 0.95) -> tuple[float, float, float]:
    """(mean(after - before), lower, upper percentile of the resampled means at `level`); items resampled as
    pairs."""
    import numpy as np
    diffs = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    if diffs.size == 0:
        raise ValueError("paired_bootstrap: no pairs")
    rng = np.random.default_rng(seed)
    step = max(1, 2_000_000 // diffs.size)   # resamples drawn in blocks: memory stays ~16 MB for any n
    means = np.concatenate([diffs[rng.integers(0, diffs.size, size=(min(step, resamples - i), diffs.size))]
                            .mean(axis=1) for i in range(0, resamples, step)])
    tail = 50 * (1 - level)
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(diffs.mean()), float(lo), float(hi)


def clustered(clusters: Sequence[str] | None) -> bool:
    """Whether some cluster holds more than one item (then items are not independent pairs)."""
    return clusters is not None and len(set(clusters)) < len(clusters)


def _cluster_sums(diffs, clusters: Sequence[str]):
    """(per-run sums of diffs within each cluster [runs x clusters], items per cluster) for diffs [runs x items]."""
    import numpy as np
    index = {c: j for j, c in enumerate(dict.fromkeys(clusters))}
    col = np.array([index[c] for c in clusters])
    sums = np.zeros((diffs.shape[0], len(index)))
    np.add.at(sums, (slice(None), col), diffs)
    return sums, np.bincount(col, minlength=len(index)).astype(float)


def binary_scores(before: Sequence[float], afters: Sequence[Sequence[float]]) -> bool:
    """Whether every score of both sides is 0 or 1 (then the 2x2-table methods apply)."""
    return _is_binary(before) and all(_is_binary(a) for a in afters)


def paired_table(before: Sequence[float], afters: Sequence[Sequence[float]]) -> dict[str, int]:
    """The 2x2 table of every run's (before, after) pairs of 0/1 scores: a = right/right, b = right/wrong,
    c = wrong/right, d = wrong/wrong."""
    pairs = [(x, y) for after in afters for x, y in zip(before, after)]
    a = sum(1 for x, y in pairs if x == 1 and y == 1)
    b = sum(1 for x, y in pairs if x == 1 and y == 0)
    c = sum(1 for x, y in pairs if x == 0 and y == 1)
    return {"a": a, "b": b, "c": c, "d": len(pairs) - a - b - c}


def design_effect(before: Sequence[float], afters: Sequence[Sequence[float]], clusters: Sequence[str]) -> float:
    """How many times the variance of the mean change exceeds what independent items would give: the cluster-
    robust (ratio-estimator) variance over the item variance, for every run's pairs pooled (`clusters` names the
    items of one run; the same item under another run is in the same cluster). Never below 1; one cluster
    holding every item counts as one item."""
    import numpy as np
    diffs = (np.asarray(afters, dtype=float) - np.asarray(before, dtype=float)[None, :]).ravel()
    n = diffs.size
    v_iid = diffs.var(ddof=1) / n if n > 1 else 0.0
    if v_iid <= 0:
        return 1.0
    sums, counts = _cluster_sums((diffs - diffs.mean())[None, :], list(clusters) * len(afters))
    m = counts.size
    if m < 2:
        return float(n)
    v_cluster = m / (m - 1) * float((sums[0] ** 2).sum()) / n ** 2
    return max(1.0, v_cluster / v_iid)


def rao_scott(before: Sequence[float], afters: Sequence[Sequence[float]], clusters: Sequence[str],
              z: float = Z95) -> dict[str, Any]:
    """Newcombe's paired interval and McNemar's chi-square p on the 2x2 table of every run's pairs (0/1 scores)
    divided by the design effect: {delta, lo, hi, p, deff, table}."""
    t = paired_table(before, afters)
    deff = design_effect(before, afters, clusters)
    diff, lo, hi = newcombe_paired(t["a"] / deff, t["b"] / deff, t["c"] / deff, t["d"] / deff, z=z)
    disc = (t["b"] + t["c"]) / deff
    p = 1.0 if disc == 0 else math.erfc(math.sqrt(((t["b"] - t["c"]) / deff) ** 2 / disc / 2))
    return {"delta": float(diff), "lo": float(lo), "hi": float(hi), "p": float(p), "deff": float(deff), "table": t}


def cluster_bootstrap(before: Sequence[float], afters: Sequence[Sequence[float]], clusters: Sequence[str],
                      resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                      level: float = 0.95) -> tuple[float, float, float]:
    """(mean change over runs and items, interval) resampling whole clusters (and, with several runs in
    `afters`, runs): each resample's change is the item-weighted mean over the clusters drawn."""
    import numpy as np
    diffs = np.asarray(afters, dtype=float) - np.asarray(before, dtype=float)[None, :]   # runs x items
    if diffs.size == 0:
        raise ValueError("cluster_bootstrap: no pairs")
    sums, counts = _cluster_sums(diffs, clusters)
    k, m = sums.shape
    rng = np.random.default_rng(seed)
    step = max(1, 2_000_000 // (m * k))
    means = []
    for i in range(0, resamples, step):
        r = min(step, resamples - i)
        pick = rng.integers(0, m, size=(r, m))
        per_run = sums[:, pick].sum(axis=2).T / counts[pick].sum(axis=1)[:, None]   # r x k
        if k == 1:
            means.append(per_run[:, 0])
        else:
            runs = rng.integers(0, k, size=(r, k))
            means.append(np.take_along_axis(per_run, runs, axis=1).mean(axis=1))
    tail = 50 * (1 - level)
    lo, hi = np.percentile(np.concatenate(means), [tail, 100 - tail])
    return float(diffs.mean()), float(lo), float(hi)


def seed_item_bootstrap(before: Sequence[float], afters: Sequence[Sequence[float]],
                        resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                        level: float = 0.95) -> tuple[float, float, float]:
    """(mean change over runs and items, interval) when `afters` holds one score list per training run of the
    same items: each resample draws runs with replacement and items with replacement, so both the item sample
    and run-to-run variation widen the interval (the cluster bootstrap with every item its own cluster)."""
    if not afters or not len(before):
        raise ValueError("seed_item_bootstrap: no pairs")
    return cluster_bootstrap(before, afters, [str(i) for i in range(len(before))], resamples, seed, level)


def _is_binary(xs: Sequence[float]) -> bool:
    return all(x in (0, 1) for x in xs)


def paired_difference(before: Sequence[float], after: Sequence[float],
                      clusters: Sequence[str] | None = None) -> dict[str, Any]:
    """One paired comparison of aligned per-item scores (before[i] and after[i] are the same item; clusters[i]
    names the question or sample item i belongs to, None: every item its own).

    Returns {n, before, after, delta, ci95, p (0/1 only), table (0/1 only: a, b, c, d), method,
    significant} (and `clusters`, their number, where some hold several items); an empty comparison gives
    n = 0 and None everywhere else."""
    if len(before) != len(after):
        raise ValueError(f"paired_difference: {len(before)} scores before, {len(after)} after")
    n = len(before)
    if n == 0:
        return {"n": 0, "before": None, "after": None, "delta": None, "ci95": None, "p": None, "method": None,
                "significant": False}
    out: dict[str, Any] = {"n": n, "before": round(statistics.fmean(before), 6),
                           "after": round(statistics.fmean(after), 6)}
    binary, grouped = binary_scores(before, [after]), clustered(clusters)
    if binary and grouped:
        rs = rao_scott(before, [after], clusters)
        diff, lo, hi = rs["delta"], rs["lo"], rs["hi"]
        out.update(table=rs["table"], p=float(f"{rs['p']:.6g}"), method=METHOD_RAO_SCOTT,
                   clusters=len(set(clusters)), design_effect=round(rs["deff"], 4))
    elif binary:
        t = paired_table(before, [after])
        diff, lo, hi = newcombe_paired(t["a"], t["b"], t["c"], t["d"])
        out.update(table=t, p=float(f"{mcnemar_exact_p(t['b'], t['c']):.6g}"), method=METHOD_MCNEMAR)
    elif grouped:
        diff, lo, hi = cluster_bootstrap(before, [after], clusters)
        out.update(p=None, method=METHOD_CLUSTER, clusters=len(set(clusters)))
    else:
        diff, lo, hi = paired_bootstrap(before, after)
        out.update(p=None, method=METHOD_BOOTSTRAP)
    out.update(delta=round(diff, 6), ci95=[round(lo, 6), round(hi, 6)], significant=lo > 0 or hi < 0)
    return out


def across_seeds(per_seed: Sequence[dict]) -> dict[str, Any]:
    """Mean ± sample std of per-seed paired differences (paired_difference results; std None for one seed),
    each seed's value and interval kept, and whether the seeds disagree: in sign, or one seed's own interval
    on the other side of zero from another's."""
    deltas = [r.get("delta") for r in per_seed]
    vals = [d for d in deltas if d is not None]
    readings = [reading(r.get("ci95")) for r in per_seed]
    return {"mean": round(statistics.fmean(vals), 6) if vals else None,
            "std": round(statistics.stdev(vals), 6) if len(vals) > 1 else None,
            "values": list(deltas), "seeds": len(deltas), "ci95": [r.get("ci95") for r in per_seed],
            "readings": readings,
            "disagree_in_sign": any(v > 0 for v in vals) and any(v < 0 for v in vals),
            "conflicting": "better" in readings and "worse" in readings}


def reading(ci: Sequence[float] | None) -> str:
    """The plain reading of a change: its 95% interval above zero, below zero, or containing it."""
    if not ci:
        return "no interval"
    if ci[0] > 0:
        return "better"
    if ci[1] < 0:
        return "worse"
    return "no detectable change"

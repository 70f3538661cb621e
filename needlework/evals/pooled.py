"""Claim 2 read over a suite of transfer tasks: a random-effects meta-analysis of per-task paired changes.

Each task gives one "study": its paired change y_i (mean of fine-tuned minus base per-item scores) and the
standard error of that mean (`change_se`). The tasks measure different things, so their true changes are allowed
to differ (random effects: y_i ~ N(mu + u_i, v_i), u_i ~ N(0, tau^2)) and the pool estimates the mean change mu.

Formulae (k tasks, v_i = se_i^2, w_i = 1 / v_i):
- fixed-effect mean  y_FE = sum(w_i y_i) / sum(w_i);  Cochran's Q = sum(w_i (y_i - y_FE)^2), chi-square on
  k - 1 df under homogeneity (its p is shown; with few tasks Q has little power, so a large p is no evidence
  that the tasks agree);
- DerSimonian-Laird  tau^2 = max(0, (Q - (k - 1)) / (sum(w_i) - sum(w_i^2) / sum(w_i)));
  I^2 = max(0, (Q - (k - 1)) / Q): the share of the spread between tasks beyond what their sampling errors give;
- random-effects weights w*_i = 1 / (v_i + tau^2);  mu = sum(w*_i y_i) / sum(w*_i);
  DL (Wald) interval  mu +- z_0.975 * sqrt(1 / sum(w*_i));
- Hartung-Knapp-Sidik-Jonkman interval  mu +- t_{k-1, 0.975} * sqrt(q / sum(w*_i)), with
  q = max(1, sum(w*_i (y_i - mu)^2) / (k - 1)).

The headline interval is HKSJ's, not DL's Wald interval. With few studies (a suite has 3 to 8 tasks) the Wald
interval treats tau^2 as known and uses the normal quantile, and its coverage falls far below 95% (IntHout,
Ioannidis & Borm 2014, BMC Med Res Methodol 14:25, simulations with k = 2..20); HKSJ rescales the variance by the
observed spread and uses Student's t on k - 1 df, which keeps coverage near nominal. Its plain form can come out
narrower than the Wald interval when the tasks agree more closely than their own errors suggest (q < 1); the
floor q >= 1 (the "modified" HKSJ of Roever, Knapp & Friede 2015, BMC Med Res Methodol 15:99) rules that out, so
the headline is never narrower than DL's. The price is width with very few tasks (k = 2: t_{1, 0.975} = 12.7),
which is what two tasks can honestly say about a mean over tasks. Both intervals are kept in the result.

Edge cases:
- k = 1: the pool is that task (tau^2 = 0, I^2 = 0, no Q), its interval the task's own normal one; HKSJ is
  undefined (no degrees of freedom) and the headline falls back to that interval.
- A task whose items did not change at all (every paired difference 0) has a sampled variance of 0 and would
  take the whole fixed-effect weight. Every task's variance is floored at 1 / n^2 (`min_variance`): the variance
  of the mean change had exactly one of its n items moved by one score unit (for 0/1 scores, one discordant pair;
  equally, the continuity rule of half a discordant pair each way, b = c = 1/2). A task cannot claim to resolve a
  change finer than one item.
"""
from __future__ import annotations

import math
import statistics
from typing import Any, Sequence

from .metrics import Z95
from .paired import clustered, design_effect

METHOD = ("random effects over tasks: DerSimonian-Laird tau^2, Hartung-Knapp-Sidik-Jonkman interval "
          "(t on k - 1 df, variance factor floored at 1)")


def min_variance(n: int) -> float:
    """The smallest variance a task's mean change may carry: one of its n items changed by one unit."""
    return 1.0 / n ** 2


def change_se(before: Sequence[float], afters: Sequence[Sequence[float]],
              clusters: Sequence[str] | None = None) -> float | None:
    """Standard error of the mean paired change (mean over runs of after - before), the input of the pool.

    Items: the sample variance of the per-item differences (after averaged over runs) over n, times the design
    effect where items share clusters (paired.design_effect: the cluster-robust variance, never below the
    independent one); for 0/1 scores of one run this is the paired-proportions variance
    (b + c - (c - b)^2 / n) / (n (n - 1)). Several runs (training seeds) add the run-to-run term: the sample
    variance of the per-run mean changes over the number of runs. Floored at min_variance(n); None for no items."""
    n = len(before)
    if not n or not afters:
        return None
    mean_after = [statistics.fmean(col) for col in zip(*afters)]
    diffs = [a - b for a, b in zip(mean_after, before)]
    var = statistics.variance(diffs) / n if n > 1 else 0.0
    if var > 0 and clusters is not None and clustered(clusters):
        var *= design_effect(before, [mean_after], clusters)
    if len(afters) > 1:
        per_run = [statistics.fmean(a) - statistics.fmean(before) for a in afters]
        var += statistics.variance(per_run) / len(afters)
    return math.sqrt(max(var, min_variance(n)))


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for X ~ chi-square with integer df >= 1 (Abramowitz & Stegun 26.4.4-5, closed forms)."""
    if x <= 0:
        return 1.0
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for r in range(1, df // 2):
            term *= (x / 2) / r
            total += term
        return min(1.0, math.exp(-x / 2) * total)
    chi = math.sqrt(x)
    pdf = math.exp(-x / 2) / math.sqrt(2 * math.pi)
    term, total = chi, 0.0
    for r in range(1, (df - 1) // 2 + 1):
        total += term
        term *= x / (2 * r + 1)
    return min(1.0, math.erfc(chi / math.sqrt(2)) + 2 * pdf * total)


def _t_two_sided(t: float, df: int) -> float:
    """P(|T| < t) for Student's t with integer df >= 1 (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2 == 1:
        term, total = math.cos(theta), 0.0
        for r in range(1, (df - 1) // 2 + 1):
            total += term
            term *= c2 * (2 * r) / (2 * r + 1)
        return 2 / math.pi * (theta + math.sin(theta) * total)
    term, total = 1.0, 0.0
    for r in range(1, df // 2 + 1):
        total += term
        term *= c2 * (2 * r - 1) / (2 * r)
    return math.sin(theta) * total


def t_quantile(p: float, df: int) -> float:
    """The p-quantile (p > 0.5) of Student's t with integer df >= 1, by bisection on its closed-form CDF."""
    target = 2 * p - 1
    lo, hi = 0.0, 1.0
    while _t_two_sided(hi, df) < target:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_two_sided(mid, df) < target else (lo, mid)
    return (lo + hi) / 2


def random_effects(y: Sequence[float], se: Sequence[float], n: Sequence[int] | None = None) -> dict[str, Any]:
    """The pool of k >= 1 studies (changes y with standard errors se; n, each study's item count, floors its
    variance at min_variance). Returns {k, estimate, se, ci95 (the headline: HKSJ for k >= 2), ci95_dl,
    ci95_hksj, tau2, i2, q, q_df, q_p, weights (random-effects, summing to 1), method}."""
    k = len(y)
    if k == 0 or len(se) != k or (n is not None and len(n) != k):
        raise ValueError(f"random_effects: {k} estimates, {len(se)} standard errors")
    v = [s ** 2 for s in se]
    if n is not None:
        v = [max(x, min_variance(m)) for x, m in zip(v, n)]
    if min(v) <= 0:
        raise ValueError("random_effects: a study with zero variance (pass its item count n for the floor)")
    w = [1 / x for x in v]
    sw = sum(w)
    y_fe = sum(wi * yi for wi, yi in zip(w, y)) / sw
    q = sum(wi * (yi - y_fe) ** 2 for wi, yi in zip(w, y))
    df = k - 1
    tau2 = max(0.0, (q - df) / (sw - sum(wi ** 2 for wi in w) / sw)) if k > 1 else 0.0
    i2 = max(0.0, (q - df) / q) if k > 1 and q > 0 else 0.0
    ws = [1 / (x + tau2) for x in v]
    sws = sum(ws)
    mu = sum(wi * yi for wi, yi in zip(ws, y)) / sws
    se_dl = math.sqrt(1 / sws)
    dl = [mu - Z95 * se_dl, mu + Z95 * se_dl]
    hksj = None
    if k > 1:
        factor = max(1.0, sum(wi * (yi - mu) ** 2 for wi, yi in zip(ws, y)) / df)
        half = t_quantile(0.975, df) * math.sqrt(factor / sws)
        hksj = [mu - half, mu + half]
    return {"k": k, "estimate": mu, "se": se_dl, "ci95": hksj or dl, "ci95_dl": dl, "ci95_hksj": hksj,
            "tau2": tau2, "i2": i2, "q": q if k > 1 else None, "q_df": df, "q_p": chi2_sf(q, df) if k > 1 else None,
            "weights": [wi / sws for wi in ws], "method": METHOD if k > 1 else "one task: its own normal interval"}

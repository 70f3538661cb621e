"""Claim 2 over the whole transfer suite: every benchmark whose ReportHook answers claim "transfer", pooled by a
random-effects meta-analysis of their paired changes (needlework.evals.pooled), per fine-tuned arm.

A task enters the pool when its change is paired over items (it carries a standard error) and the base model can
show a change there: a task where the base model sits at the floor or the ceiling is "not testable at this model
size" by claim 3's rule (evals.equivalence.untestable, the same epsilon), shown with its change but not pooled.
The claim's reading follows the pooled interval (HKSJ, see evals/pooled.py; with one testable task, that task's
own paired interval), and tasks whose own interval reads otherwise are named. Read from the report dictionary
(collect.py) and the base run's per-item rows only.
"""
from __future__ import annotations

import statistics
from typing import Any

from ..evals.equivalence import FLOOR_EPSILON, NOT_TESTABLE, untestable
from ..evals.paired import reading
from ..evals.pooled import METHOD, random_effects
from .hooks import claim_benchmarks, report_hook
from .tables import Table, benchmark_label, num, p_text, signed, signed_interval

NOT_POOLED = f"{NOT_TESTABLE}; not pooled"
NO_SE = "no per-item scores; not pooled"


def _chance(name: str, rows: list[dict]) -> float:
    """The mean chance score of a benchmark's base items where rows carry one (multiple choice), else the
    benchmark's own (its ReportHook: 0.5 for a True/False answer), else 0."""
    ch = [r["chance"] for r in rows if r.get("chance") is not None]
    return statistics.fmean(ch) if ch else report_hook(name).chance or 0.0


def _task(name: str, bench: dict, arm: str, chance: float, eps: float) -> dict[str, Any] | None:
    ch = (bench.get("change", {}).get(arm) or {}).get("overall") or {}
    if ch.get("delta") is None:
        return None
    base = bench["overall"].get("base") or {}
    why = untestable(base.get("accuracy"), base.get("n") or 0, chance, eps)
    left_out = NOT_POOLED if why else None if ch.get("se") is not None else NO_SE
    return {"name": name, "label": benchmark_label(name, bench), "metric": bench["primary_metric"],
            "base": base.get("accuracy"), "after": (bench["overall"].get(arm) or {}).get("accuracy"),
            "delta": ch["delta"], "ci95": ch.get("ci95"), "se": ch.get("se"), "n": ch.get("n"),
            "reading": reading(ch.get("ci95")), "untestable": why, "left_out": left_out, "weight": None}


def disagreeing(tasks: list[dict], pooled_reading: str) -> list[dict]:
    """Pooled tasks whose own interval reads otherwise: the opposite direction of a pooled better / worse, or any
    detectable change where the pool detects none."""
    opposite = {"better": ("worse",), "worse": ("better",), "no detectable change": ("better", "worse")}
    return [t for t in tasks if t["weight"] is not None and t["reading"] in opposite.get(pooled_reading, ())]


def arm_pool(tasks: list[dict]) -> dict[str, Any]:
    """One arm's pool: the tasks not left out weighed by random effects, the reading and the tasks that disagree."""
    pooled = [t for t in tasks if not t["left_out"]]
    out: dict[str, Any] = {"tasks": tasks, "k": len(pooled), "pool": None, "reading": None, "disagree": []}
    if not pooled:
        out["reading"] = (f"{NOT_TESTABLE} on any task" if all(t["untestable"] for t in tasks)
                          else "no testable task with per-item scores")
        return out
    pool = random_effects([t["delta"] for t in pooled], [t["se"] for t in pooled], [t["n"] for t in pooled])
    for t, w in zip(pooled, pool["weights"]):
        t["weight"] = w
    if len(pooled) == 1 and pooled[0]["ci95"]:   # the pool is that task: read it by its own paired interval
        pool.update(ci95=pooled[0]["ci95"], estimate=pooled[0]["delta"], method="one testable task: its own "
                    "paired interval")
    out.update(pool=pool, reading=reading(pool["ci95"]))
    out["disagree"] = [t["label"] for t in disagreeing(tasks, out["reading"])]
    return out


def pool_transfer(benchmarks: dict[str, dict], base_rows: dict[str, list[dict]],
                  eps: float = FLOOR_EPSILON) -> dict[str, Any] | None:
    """{method, arms: {arm: {tasks, k, pool, reading, disagree}}} over the transfer benchmarks this run has (in
    registry order); None when none of them was compared before and after."""
    names = [n for n in claim_benchmarks("transfer") if n in benchmarks]
    arms = list(dict.fromkeys(a for n in names for a in benchmarks[n].get("change", {})))
    result = {}
    for arm in arms:
        tasks = [t for n in names
                 if (t := _task(n, benchmarks[n], arm, _chance(n, base_rows.get(n) or []), eps)) is not None]
        if tasks:
            result[arm] = arm_pool(tasks)
    return {"method": METHOD, "arms": result} if result else None


def stats_text(pool: dict) -> str:
    """'τ² = 0.0004, I² = 12%, Q = 1.14 on 1 df, p = 0.285' (the between-task spread), or '' for one task."""
    if pool["q"] is None:
        return ""
    return (f"τ² = {pool['tau2']:.4f}, I² = {100 * pool['i2']:.0f}%, Q = {pool['q']:.2f} on {pool['q_df']} df, "
            f"{p_text(pool['q_p'])}")


def _interval(ci: list[float]) -> str:
    return f"{signed(ci[0])} to {signed(ci[1])}"


def arm_sentence(arm: str, ap: dict) -> str:
    """Claim 2's verdict for one arm, read from the pool, naming the tasks that disagree and those left out."""
    pool = ap["pool"]
    left_out = [t for t in ap["tasks"] if t["left_out"]]
    out = ""
    if pool is None:
        out = f"{arm}: pooled over no task ({ap['reading']})"
    else:
        names = ", ".join(t["label"] for t in ap["tasks"] if t["weight"] is not None)
        if ap["k"] == 1:
            detail = f"95% paired interval {_interval(pool['ci95'])}; one testable task, so the pool is that task"
        else:
            detail = (f"95% HKSJ interval {_interval(pool['ci95'])}, DL interval {_interval(pool['ci95_dl'])}; "
                      + stats_text(pool))
        out = (f"{arm}, pooled over {ap['k']} testable task{'s' if ap['k'] > 1 else ''} ({names}): "
               f"change {signed(pool['estimate'])} ({detail}): {ap['reading']}")
        dis = disagreeing(ap["tasks"], ap["reading"])
        if dis:
            out += "; on its own interval, " + ", ".join(f"{t['label']} reads {t['reading']}" for t in dis)
    for kind, words in ((NOT_POOLED, f"left out as {NOT_TESTABLE}"), (NO_SE, "left out, no per-item scores")):
        named = [t["label"] + (f" ({t['untestable']})" if t["untestable"] else "") for t in left_out
                 if t["left_out"] == kind]
        if named:
            out += f"; {words}: " + ", ".join(named)
    return out


def pooled_rows(pooled: dict | None) -> list[list[str]]:
    """One verdict-table row per arm: the pooled change and the claim's reading (with the disagreeing tasks)."""
    if not pooled:
        return []
    rows = []
    arms = pooled["arms"]
    for arm, ap in arms.items():
        if ap["k"] == 1:   # the pool of one task is that task, whose own row is already in the table
            continue
        measure = f"pooled, random effects ({ap['k']} tasks)" + (f" [{arm}]" if len(arms) > 1 else "")
        pool = ap["pool"]
        change = f"{signed(pool['estimate'])} {signed_interval(pool['ci95'])}" if pool else "–"
        text = ap["reading"] + (f"; disagree: {', '.join(ap['disagree'])}" if ap["disagree"] else "")
        rows.append(["2. it transfers", measure, "", "", change, text])
    return rows


def suite_table(arm: str, ap: dict) -> Table:
    """Per task: base, fine-tuned, paired change [95%], its weight in the pool, its own reading."""
    rows = [[t["label"], t["metric"], num(t["base"]), num(t["after"]), f"{signed(t['delta'])} "
             f"{signed_interval(t['ci95'])}".rstrip(), str(t["n"]),
             "–" if t["weight"] is None else f"{100 * t['weight']:.0f}%",
             t["left_out"] or t["reading"]] for t in ap["tasks"]]
    pool = ap["pool"]
    if pool:
        rows.append([f"pooled ({ap['k']} tasks)", "", "", "", f"{signed(pool['estimate'])} "
                     f"{signed_interval(pool['ci95'])}", "", "100%", ap["reading"]])
    return {"title": f"transfer suite, {arm}: paired change per task and pooled",
            "header": ["task", "metric", "base", arm, "paired change [95%]", "n", "weight", "reading"],
            "rows": rows, "note": caption(ap)}


def pool_summary(ap: dict) -> str:
    """The pooled estimate, its headline interval and the between-task spread, in one sentence."""
    pool = ap["pool"]
    if pool is None:
        return "no task pooled."
    if ap["k"] == 1:
        return "one testable task: the pool is that task, read by its own paired interval (τ² = 0)."
    return (f"pooled: {signed(pool['estimate'])}, 95% Hartung-Knapp-Sidik-Jonkman interval {_interval(pool['ci95'])} "
            f"(t on {pool['q_df']} df); DerSimonian-Laird {stats_text(pool)}; weights 1 / (se² + τ²).")


def companion_readings(benchmarks: dict[str, dict], arm: str) -> dict[str, dict[str, list[str]]]:
    """{measure: {reading: [task labels]}} over the transfer tasks that carry the companion measures for `arm`,
    in registry order: what the model prefers, counted task by task beside the pooled exact match."""
    out: dict[str, dict[str, list[str]]] = {}
    for name in (n for n in claim_benchmarks("transfer") if n in benchmarks):
        bench = benchmarks[name]
        for m, c in (((bench.get("change") or {}).get(arm) or {}).get("companion") or {}).items():
            if c.get("reading"):   # an empty cell (no item had the measure) is no reading
                out.setdefault(m, {}).setdefault(c["reading"], []).append(benchmark_label(name, bench))
    return out


def companion_sentence(benchmarks: dict[str, dict], arm: str) -> str:
    """'context_gain reads better on 5 of 6 tasks (..), no detectable change on 1 (..); ...', or '' when no task
    has them. Never a verdict: the claim's reading stays the pooled exact match."""
    parts = []
    for m, by in companion_readings(benchmarks, arm).items():
        total = sum(len(v) for v in by.values())
        known = ("better", "worse", "no detectable change")
        order = [r for r in known if r in by] + [r for r in by if r not in known]   # e.g. inconsistent across seeds
        words = [f"{r} on {len(by[r])} of {total} task{'s' if total > 1 else ''} ({', '.join(by[r])})" for r in order]
        parts.append(f"{m} reads " + ", ".join(words))
    if not parts:
        return ""
    return (f"{arm}, the companion measures (what the model prefers; beside exact match, never instead of it): "
            + "; ".join(parts))


def caption(ap: dict) -> str:
    return (pool_summary(ap) + " Each task's interval is its own paired one; tasks where the base model is at the "
            "floor or the ceiling are not pooled.")

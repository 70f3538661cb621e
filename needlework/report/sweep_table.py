"""The sweep table: one row per arm of a run with several arms (and seeds), read from its report.json only.

A recipe is chosen on what transfers, with claim 3 as a guard, not on the synthetic score. So each row gives
what the arm changed, its training, the synthetic score (claim 1's benchmark), each claim-2 benchmark's change,
the pooled transfer across them (where the report pooled them) and claim 3's reading, and the arm's wall time.
With several seeds a change is the mean over seeds ± their standard deviation; with one, the change and its
paired 95% interval. Which benchmark answers which claim comes from the registry's report hooks, never a name.
"""
from __future__ import annotations

import statistics
from typing import Any

from .hooks import report_hook


def arm_settings(overrides: dict[str, Any], prefix: str = "") -> str:
    """An arm's overrides as `key=value` words (`train.lr=0.0003`); a mixture as its components' names."""
    words = []
    for key, value in overrides.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            words.append(arm_settings(value, name + "."))
        elif key == "mixture" and isinstance(value, list):
            words.append(f"{name}=[{', '.join(str(c.get('name', c.get('task'))) for c in value)}]")
        else:
            words.append(f"{name}={value}")
    return " ".join(w for w in words if w)


def _change(cell: dict | None) -> dict[str, Any]:
    """delta, its spread (std over seeds, or the 95% interval of one seed) and the plain reading."""
    if not cell or cell.get("delta") is None:
        return {}
    seeds = cell.get("seeds") or {}
    if seeds.get("seeds", 1) > 1:
        return {"delta": cell["delta"], "std": seeds.get("std"), "seeds": seeds["seeds"], "reading": cell.get("reading")}
    return {"delta": cell["delta"], "ci95": cell.get("ci95"), "seeds": 1, "reading": cell.get("reading")}


def _pooled(rep: dict, arm: str) -> dict[str, Any]:
    """Claim 2's pooled estimate for `arm`, as the report's pooled section holds it (absent in older reports)."""
    arm_pool = ((rep.get("transfer_pooled") or {}).get("arms") or {}).get(arm) or {}
    pool = arm_pool.get("pool") or {}
    out = {k: pool[k] for k in ("estimate", "ci95", "tau2", "i2", "k") if k in pool}
    return {**out, "reading": arm_pool["reading"]} if out else {}


def _guard(rep: dict, arm: str) -> str | None:
    """Claim 3's reading for `arm` from every benchmark answering it (the equivalence test per task), and the
    guard a recipe is chosen with: whether every task's 90% interval rules out a loss beyond the margin (one-sided:
    a rise the two-sided test cannot call "kept" is no reason to drop a recipe)."""
    readings, lows = [], []
    for name, b in rep.get("benchmarks", {}).items():
        if report_hook(name).claim != "general" or not b.get("table1"):
            continue
        readings.append(b["table1"]["claim"].get(arm))
        for cell in ((b["table1"].get("change") or {}).get(arm) or {}).values():
            eq = (cell or {}).get("equivalence") or {}
            if eq.get("ci90") and eq.get("margin") is not None:
                lows.append((eq["ci90"][0], eq["margin"]))
    readings = [r for r in readings if r]
    if not readings:
        return None
    if lows:
        margin = lows[0][1]
        safe = all(low > -m for low, m in lows)
        readings.append(f"no loss beyond -{margin:g}" if safe else f"a loss beyond -{margin:g} not ruled out")
    return "; ".join(readings)


def _seconds(rep: dict, arm: str) -> float | None:
    spent = [s for key, s in (rep.get("stage_seconds") or {}).items()
             if s is not None and key.split("/", 1)[0] in ("generate", "train", "eval")
             and key.split("/", 1)[1].rsplit("-s", 1)[0] == arm]
    return round(sum(spent), 1) if spent else None


def sweep_rows(rep: dict, arms: dict[str, dict]) -> list[dict[str, Any]]:
    """One row per fine-tuned arm of the report (`arms`: each arm's overrides, {} for the main arm)."""
    rows = []
    for arm in [m for m in rep.get("models", []) if m != "base"]:
        trainings = [t for t in rep.get("training", []) if t.get("arm") == arm]
        steps = sorted({t.get("global_step") for t in trainings if t.get("global_step") is not None})
        train_s = [t["seconds"] for t in trainings if t.get("seconds")]
        row: dict[str, Any] = {"arm": arm, "settings": arm_settings(arms.get(arm) or {}) or "(the main arm)",
                               "seeds": len(trainings), "steps": steps,
                               "train_seconds": round(statistics.fmean(train_s), 1) if train_s else None,
                               "seconds": _seconds(rep, arm), "synthetic": None, "transfer": {},
                               "pooled": _pooled(rep, arm), "general": _guard(rep, arm)}
        for name, bench in rep.get("benchmarks", {}).items():
            claim = report_hook(name).claim
            if claim == "retrieval":
                cell = bench.get("overall", {}).get(arm) or {}
                row["synthetic"] = {"accuracy": cell.get("accuracy"), "std": cell.get("std")}
            elif claim == "transfer":
                row["transfer"][report_hook(name).label] = _change((bench.get("change", {}).get(arm) or {}).get("overall"))
        rows.append(row)
    return rows


def _fmt_change(c: dict) -> str:
    if not c:
        return "–"
    if c.get("seeds", 1) > 1:
        return f"{c['delta']:+.3f} ± {c['std']:.3f}" if c.get("std") is not None else f"{c['delta']:+.3f}"
    ci = c.get("ci95")
    return f"{c['delta']:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else f"{c['delta']:+.3f}"


def _fmt_pooled(p: dict) -> str:
    if not p or p.get("estimate") is None:
        return "–"
    ci = p.get("ci95")
    text = f"{p['estimate']:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")
    return text + (f" (k={p['k']})" if p.get("k") else "")


def sweep_markdown(rows: list[dict[str, Any]]) -> str:
    """The table as markdown: the columns a recipe is chosen on, transfer first."""
    labels = list(dict.fromkeys(label for r in rows for label in r["transfer"]))
    head = (["arm", "settings", "seeds", "steps", "synthetic", "pooled transfer"] + labels
            + ["claim 3 guard", "train s", "wall s"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        syn = r["synthetic"] or {}
        acc = "–" if syn.get("accuracy") is None else (f"{syn['accuracy']:.3f}" + (
            f" ± {syn['std']:.3f}" if syn.get("std") is not None else ""))
        cells = [r["arm"], r["settings"], str(r["seeds"]), ",".join(map(str, r["steps"])) or "–", acc,
                 _fmt_pooled(r["pooled"])] + [_fmt_change(r["transfer"].get(label, {})) for label in labels]
        cells += [r["general"] or "–", "–" if r["train_seconds"] is None else f"{r['train_seconds']:.0f}",
                  "–" if r["seconds"] is None else f"{r['seconds']:.0f}"]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)

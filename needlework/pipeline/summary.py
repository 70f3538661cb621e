"""What `needlework run` prints when it ends: the verdict table, where time went against the plan, the report.

Read from the finished run's files only (the report stage's report.json, the plan's estimates in plan.json),
so the terminal says what the report says.
"""
from __future__ import annotations

import json
from pathlib import Path

from .estimate import fmt_seconds


def latest_report(root: Path) -> dict | None:
    found = sorted(root.glob("report/report-*/report.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(found[-1].read_text()) if found else None


WIDTHS = (24, 42, 14, 14, 26, 44)   # claim, measure, base, fine-tuned, change, reading: a 2x80-column terminal


def _aligned(header: list[str], rows: list[list[str]]) -> list[str]:
    """The table in columns at most WIDTHS wide; a longer cell wraps onto continuation lines (at spaces where it
    can), so every cell is shown whole, never cut."""
    import textwrap
    wrapped = [[textwrap.wrap(str(c), w, break_on_hyphens=False) or [""] for c, w in zip(r, WIDTHS)]
               for r in [header, *rows]]
    widths = [max(len(line) for r in wrapped for line in r[k]) for k in range(len(header))]
    out = []
    for r in wrapped:
        for i in range(max(len(c) for c in r)):
            out.append("  " + "  ".join((c[i] if i < len(c) else "").ljust(w) for c, w in zip(r, widths)).rstrip())
    return out


def summary_text(root: str | Path) -> str:
    root = Path(root)
    rep = latest_report(root)
    if rep is None:
        return f"report: {root / 'report.html'}"
    lines = ["", "verdict (paired over the same items; the report gives every interval's method and caveats):"]
    lines += _aligned(rep["verdict"]["header"], rep["verdict"]["rows"])
    plan = json.loads((root / "plan.json").read_text()) if (root / "plan.json").exists() else {}
    ran = {k: v for k, v in rep.get("stage_seconds", {}).items() if v is not None}
    if ran:
        lines.append("time per stage (estimate before the run):")
        lines += [f"  {name:32s} {fmt_seconds(s):>9s}" + (f"  ({fmt_seconds(plan[name])})" if plan.get(name) else "")
                  for name, s in ran.items()]
        lines.append(f"  {'total':32s} {fmt_seconds(sum(ran.values())):>9s}"
                     + (f"  ({fmt_seconds(sum(v for v in plan.values() if v))})" if plan else ""))
    if (root / "logs" / "libraries.log").exists():
        lines.append(f"library output (transformers, datasets, lm-eval): {root / 'logs' / 'libraries.log'}")
    lines.append(f"report: {root / 'report.html'}\n        {root / 'report.md'}")
    return "\n".join(lines)

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


TERMINAL = 80   # the fewest columns the table fits in: cells wrap at word boundaries, never cut


def _widths(cells: list[list[str]], limit: int, whole: tuple[int, ...] = ()) -> list[int]:
    """Column widths that fit `limit` with two-space gaps: the column with the most room above its floor gives
    way first; a column's floor is its longest word (the columns in `whole`: their longest cell), so nothing is
    cut. Where the floors alone are wider than `limit`, the table is wider than the terminal rather than cut."""
    k = len(cells[0])
    widths = [max(len(r[c]) for r in cells) for c in range(k)]
    floor = [max((len(x) for r in cells[1:] for x in ([r[c]] if c in whole else r[c].split())), default=1)
             for c in range(k)]
    floor = [max(f, *(len(w) for w in cells[0][c].split())) for c, f in enumerate(floor)]
    while sum(widths) + 2 * (k - 1) > limit:
        room = [widths[c] - floor[c] for c in range(k)]
        c = max(range(k), key=lambda c: room[c])
        if room[c] <= 0:
            break
        widths[c] -= 1
    return widths


def _terminal_columns() -> int:
    """The terminal's width where it is wider than TERMINAL (fewer wrapped lines), else TERMINAL."""
    import shutil
    return max(TERMINAL, shutil.get_terminal_size((TERMINAL, 24)).columns)


def _aligned(header: list[str], rows: list[list[str]], limit: int | None = None) -> list[str]:
    """The header, then the verdict rows under one heading line per claim, the other columns wrapped to fit
    `limit` columns."""
    import textwrap
    limit = limit or _terminal_columns()
    cells = [[str(c) for c in r[1:]] for r in [header, *rows]]
    change = header.index("paired change [95%]") - 1 if "paired change [95%]" in header else -1
    widths = _widths(cells, limit - 4, whole=(change,))
    lines, claim = [], None

    def add(r: list[str]) -> None:
        wrapped = [textwrap.wrap(c, w, break_long_words=False, break_on_hyphens=False) or [""]
                   for c, w in zip(r, widths)]
        for i in range(max(len(w) for w in wrapped)):
            lines.append(("    " + "  ".join((w[i] if i < len(w) else "").ljust(width)
                                             for w, width in zip(wrapped, widths))).rstrip())
    add(cells[0])
    for full, r in zip(rows, cells[1:]):
        if full[0] != claim:
            claim = full[0]
            lines.append(f"  {claim}")
        add(r)
    return lines


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

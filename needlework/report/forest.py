"""The forest plot of claim 2: one row per transfer task (its paired change and 95% interval), the pooled
random-effects estimate as a diamond spanning its headline interval, a zero line, and tau² / I² in the caption.
Drawn from one arm's pool (pooled_transfer.pool_transfer) only; set-up and colours from needlework.plotting.

Tasks not pooled (the base model at the floor or the ceiling) keep their row, drawn hollow in grey and labelled
so, since their change is still a measurement; the pooled tasks' markers are the arm's colour.
"""
from __future__ import annotations

from typing import Any

from ..plotting import BASE_COLOR, png_bytes, pyplot
from .pooled_transfer import pool_summary
from .tables import signed, signed_interval

DIAMOND_HALF_HEIGHT = 0.3
CAPTION_INCHES = 0.6
KEY = ("Squares: each task's change with its own paired 95% interval (hollow grey: base model at the floor or "
       "ceiling, not pooled); diamond: the pooled estimate across its 95% interval (an arrowhead: it runs on past "
       "the axis); dashed line: no change.")


def _row_text(t: dict) -> str:
    weight = "not pooled" if t["weight"] is None else f"weight {100 * t['weight']:.0f}%"
    return f"{signed(t['delta'])} {signed_interval(t['ci95'])}  {weight}"


def forest_figure(arm: str, ap: dict[str, Any], color: str):
    """Rows top to bottom in the suite's order, then the pooled diamond; x = fine-tuned minus base."""
    plt = pyplot()
    tasks = [t for t in ap["tasks"] if t["ci95"]]
    pool = ap["pool"]
    n_rows = len(tasks) + (2 if pool else 0)
    height = 1.0 + CAPTION_INCHES + 0.4 * n_rows
    fig, ax = plt.subplots(figsize=(9.0, height))
    ys = list(range(len(tasks)))
    for pooled, style in ((True, {"color": color, "mfc": color}), (False, {"color": BASE_COLOR, "mfc": "white"})):
        rows = [(y, t) for y, t in zip(ys, tasks) if (t["weight"] is not None) == pooled]
        if not rows:
            continue
        xs = [t["delta"] for _, t in rows]
        lo = [t["delta"] - t["ci95"][0] for _, t in rows]
        hi = [t["ci95"][1] - t["delta"] for _, t in rows]
        ax.errorbar(xs, [y for y, _ in rows], xerr=[lo, hi], fmt="s", ms=6, capsize=3, lw=1.4, **style)
    labels = [f"{t['label']} (n={t['n']})" for t in tasks]
    edges = [x for t in tasks for x in t["ci95"]] + [0.0]
    if pool:
        y = len(tasks) + 1
        lo, hi = pool["ci95"]
        est = pool["estimate"]
        ax.fill([lo, est, hi, est], [y, y - DIAMOND_HALF_HEIGHT, y, y + DIAMOND_HALF_HEIGHT], color=color,
                alpha=0.85, lw=0)
        ax.axhline(len(tasks), color="#bbbbbb", lw=0.6)
        labels += ["", f"pooled, random effects (k={ap['k']})"]
        edges.append(est)
        tasks_text = [_row_text(t) for t in tasks] + ["", f"{signed(est)} {signed_interval(pool['ci95'])}"]
    else:
        tasks_text = [_row_text(t) for t in tasks]
    ax.axvline(0.0, color="#333333", ls="--", lw=1)
    ax.set_yticks(range(n_rows), labels)
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(n_rows - 0.4, -0.6)   # the first task on top, the diamond at the bottom
    # the axis spans the tasks' intervals: a pooled interval wider than that (few tasks: t on k - 1 df) runs off
    # the axis, marked by an arrowhead at the edge, its numbers in the text column
    span = max(edges) - min(edges) or 0.1
    left, right = min(edges) - 0.12 * span, max(edges) + 0.12 * span
    ax.set_xlim(left, right)
    if pool:
        inset = 0.02 * (right - left)
        for edge, beyond, marker in ((left + inset, pool["ci95"][0] < left, "<"),
                                     (right - inset, pool["ci95"][1] > right, ">")):
            if beyond:
                ax.plot([edge], [len(tasks) + 1], marker=marker, ms=10, color="#222222", ls="none")
    for y, text in enumerate(tasks_text):
        ax.text(1.02, y, text, transform=ax.get_yaxis_transform(), va="center", fontsize=8, family="monospace")
    ax.set_xlabel("paired change, fine-tuned minus base (each task's primary metric)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"claim 2, transfer suite: {arm} minus base, per task and pooled")
    fig.text(0.01, 0.02, KEY + " " + pool_summary(ap), fontsize=7.5, color="#444444", wrap=True, va="bottom")
    fig.tight_layout(rect=(0, CAPTION_INCHES / height, 1, 1))
    return fig


def forest_png(arm: str, ap: dict[str, Any], color: str) -> bytes:
    return png_bytes(forest_figure(arm, ap, color))

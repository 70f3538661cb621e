"""Report figures as PNG bytes, drawn from the report dictionary only (set-up: needlework.plotting).

The HTML embeds them as base64 data URIs so report.html is one self-contained file that opens offline.
The depth x length heatmap and the effective-length figure are in grid_plots.py.
"""
from __future__ import annotations

from typing import Any

from ..plotting import category_axis, model_colors, png_bytes, pyplot


def accuracy_by_axis(name: str, bench: dict[str, Any], axis: str, models: list[str]) -> bytes:
    return png_bytes(accuracy_by_axis_figure(name, bench, axis, models))


def accuracy_by_axis_figure(name: str, bench: dict[str, Any], axis: str, models: list[str]):
    """Accuracy per bucket, one line per model; bars are 95% intervals (one seed) or ± std (several)."""
    plt = pyplot()
    rows = bench["axes"][axis]
    labels = [str(r["value"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    shown = [m for m in models if any(m in r["cells"] for r in rows)]
    colors = model_colors(shown)
    width = 0.08 * (len(shown) - 1)
    for k, model in enumerate(shown):
        xs, ys, lo, hi = [], [], [], []
        for i, r in enumerate(rows):
            c = r["cells"].get(model)
            if not c or c["accuracy"] is None:
                continue
            y = c["accuracy"]
            if c.get("ci95"):
                l, h = c["ci95"]
            else:
                s = c.get("std") or 0.0
                l, h = y - s, y + s
            xs.append(i + (k * 0.08 - width / 2))   # a small offset keeps overlapping bars readable
            ys.append(y)
            lo.append(max(y - l, 0.0))
            hi.append(max(h - y, 0.0))
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, lw=1.5, label=model, color=colors[model])
    category_axis(ax, labels)
    ax.set_xlabel(axis)
    ax.set_ylabel(bench["primary_metric"])
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{name}: before / after fine-tuning by {axis}")
    fig.tight_layout()
    return fig


def training_loss(training: list[dict[str, Any]]) -> bytes | None:
    runs = [t for t in training if t.get("loss")]
    if not runs:
        return None
    plt = pyplot()
    colors = model_colors([f"{t['arm']} seed {t['seed']}" for t in runs])
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for t in runs:
        label = f"{t['arm']} seed {t['seed']}"
        ax.plot(t["steps"], t["loss"], lw=1.3, label=label, color=colors[label])
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("answer-token loss")
    if min(min(t["loss"]) for t in runs) > 0:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("training loss (answer tokens only)")
    fig.tight_layout()
    return png_bytes(fig)

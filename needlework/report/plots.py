"""Report figures as PNG bytes, drawn from the report dictionary only (set-up: needlework.plotting).

The HTML embeds them as base64 data URIs so report.html is one self-contained file that opens offline.
The depth x length heatmap and the effective-length figure are in grid_plots.py.
"""
from __future__ import annotations

from typing import Any

from ..plotting import DIFFERENCE_CMAP, accuracy_lines_figure, model_colors, png_bytes, pyplot


def accuracy_by_axis(name: str, bench: dict[str, Any], axis: str, models: list[str]) -> bytes:
    return png_bytes(accuracy_by_axis_figure(name, bench, axis, models))


def accuracy_by_axis_figure(name: str, bench: dict[str, Any], axis: str, models: list[str]):
    """Accuracy per bucket, one line per model; bars are 95% intervals (one seed) or ± std (several)."""
    rows = bench["axes"][axis]
    shown = [m for m in models if any(m in r["cells"] for r in rows)]
    series: dict[str, list[tuple]] = {}
    for model in shown:
        series[model] = []
        for r in rows:
            c = r["cells"].get(model)
            if not c or c["accuracy"] is None:
                continue
            y = c["accuracy"]
            s = c.get("std") or 0.0
            l, h = c["ci95"] if c.get("ci95") else (y - s, y + s)
            series[model].append((r["value"], y, l, h))
    return accuracy_lines_figure([r["value"] for r in rows], series, model_colors(shown), numeric=False,
                                 xlabel=axis, ylabel=bench["primary_metric"],
                                 title=f"{name}: before / after fine-tuning by {axis}")


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


def family_matrix_heatmap(matrix: dict[str, Any]) -> bytes:
    """The family matrix as a heatmap: colour = change vs base (blue up, red down), each cell annotated with
    the change, its paired 95% interval, and whether the arm trained on that family."""
    import numpy as np
    plt = pyplot()
    arms, fams = matrix["arms"], matrix["families"]
    cells = matrix["cells"]
    values = np.array([[cells[a][f]["delta"] if cells[a][f]["delta"] is not None else np.nan for f in fams]
                       for a in arms], dtype=float)
    fig, ax = plt.subplots(figsize=(1.9 * len(fams) + 2.2, 0.9 * len(arms) + 1.6))
    im = ax.imshow(values, cmap=DIFFERENCE_CMAP, vmin=-1.0, vmax=1.0, aspect="auto")
    for i, a in enumerate(arms):
        for j, f in enumerate(fams):
            c = cells[a][f]
            if c["delta"] is None:
                ax.text(j, i, "–", ha="center", va="center")
                continue
            lo, hi = c["ci95"]
            ax.text(j, i, f"{c['delta']:+.2f}\n[{lo:+.2f}, {hi:+.2f}]\n{'trained' if c['trained'] else 'held out'}",
                    ha="center", va="center", fontsize=8, color="white" if abs(c["delta"]) > 0.6 else "black")
    ax.set_xticks(range(len(fams)), fams, rotation=20, ha="right")
    ax.set_yticks(range(len(arms)), arms)
    ax.set_xlabel("evaluated family")
    ax.set_ylabel("trained arm")
    fig.colorbar(im, ax=ax, label=f"change in {matrix['metric']} vs base")
    ax.set_title("family matrix: fine-tuned minus base")
    fig.tight_layout()
    return png_bytes(fig)

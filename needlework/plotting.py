"""Plotting set-up shared by every figure needlework draws (report, `compare`, the loss map).

One place decides the backend (Agg: files only, no display, so it works on a headless server), the house
style, the colour of each model (base always grey, fine-tuned models in a fixed order, so a colour means the
same model in every figure of a run) and how a figure becomes a PNG (bytes for the HTML, or a file written
atomically). matplotlib is imported on first use only: `generate` and other commands stay fast to start.
"""
from __future__ import annotations

import io
from pathlib import Path

from .io import atomic_path

BASE_COLOR = "#555555"
ARM_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
STYLE = {"axes.spines.top": False, "axes.spines.right": False, "axes.titlesize": 10, "axes.labelsize": 9,
         "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 8, "legend.frameon": False,
         "image.cmap": "viridis"}
ACCURACY_CMAP = "viridis"     # 0..1, readable in grey print and by colour-blind readers
DIFFERENCE_CMAP = "RdBu"      # diverging, white at 0: red worse, blue better


def pyplot():
    """matplotlib.pyplot on the Agg backend with the house style applied."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update(STYLE)
    return plt


def model_colors(models: list[str]) -> dict[str, str]:
    """{model: colour}: "base" grey, the fine-tuned models in ARM_COLORS in the order given."""
    arms = [m for m in models if m != "base"]
    return {m: BASE_COLOR if m == "base" else ARM_COLORS[arms.index(m) % len(ARM_COLORS)] for m in models}


def category_axis(ax, labels: list[str]) -> None:
    """Ticks 0..n-1 with a half-step margin each side: a single bucket sits in the middle of its axis (matplotlib's
    autoscale would otherwise stretch the few hundredths between side-by-side markers over the whole axis)."""
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlim(-0.5, len(labels) - 0.5)


def accuracy_lines_figure(buckets: list, series: dict[str, list[tuple]], colors: dict[str, str], *, numeric: bool,
                          xlabel: str, ylabel: str, title: str):
    """Accuracy per bucket, one line per model, each point's interval as error bars: the by-axis figure of the
    report and of `needlework compare`. `series` is {model: [(bucket, accuracy, low, high)]}. Numeric buckets
    sit at their value; others on a category axis, each model a small offset aside so overlapping bars stay
    readable."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    width = 0.08 * (len(series) - 1)
    for k, (model, points) in enumerate(series.items()):
        xs = [b if numeric else buckets.index(b) + (k * 0.08 - width / 2) for b, *_ in points]
        ys = [y for _, y, _, _ in points]
        lo = [max(y - low, 0.0) for _, y, low, _ in points]
        hi = [max(high - y, 0.0) for _, y, _, high in points]
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, lw=1.5, label=model, color=colors[model])
    if not numeric:
        category_axis(ax, [str(b) for b in buckets])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def png_bytes(fig, dpi: float | None = 110) -> bytes:
    """The figure as PNG bytes (for embedding); the figure is closed."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi or "figure")
    finally:
        pyplot().close(fig)
    return buf.getvalue()


def write_png(path: str | Path, png: bytes) -> Path:
    """PNG bytes (png_bytes) to `path` atomically."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        tmp.write_bytes(png)
    return path


def save_png(fig, path: str | Path, dpi: float | None = 110) -> Path:
    """Write the figure to `path` atomically (a reader never sees half a PNG); the figure is closed."""
    path = Path(path)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=dpi or "figure")
    finally:
        pyplot().close(fig)
    return path

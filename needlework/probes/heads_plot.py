"""Retrieval-head heatmaps as PNG bytes: one map of scores (layers x heads) or of the change between two
models (after - before, on a colour scale symmetric around zero so a gain and a loss of the same size
look equally strong)."""
from __future__ import annotations

from ..plotting import ACCURACY_CMAP, DIFFERENCE_CMAP, png_bytes, pyplot


def heads_heatmap(scores: list[list[float]], title: str, *, change: bool = False) -> bytes:
    """scores[layer][head]; change=True draws a difference map (house colours: blue = higher after, red = lower)."""
    import numpy as np
    plt = pyplot()
    a = np.asarray(scores, dtype=float)
    layers, heads = a.shape
    if change:
        lim = max(float(np.abs(a).max()), 1e-6)
        kw = {"cmap": DIFFERENCE_CMAP, "vmin": -lim, "vmax": lim}
    else:
        kw = {"cmap": ACCURACY_CMAP, "vmin": 0.0, "vmax": max(float(a.max()), 1e-6)}
    fig, ax = plt.subplots(figsize=(1.6 + 0.42 * heads, 1.4 + 0.2 * layers))
    im = ax.imshow(a, aspect="auto", interpolation="nearest", **kw)
    ax.set_xticks(range(heads), [str(h) for h in range(heads)], fontsize=7)
    step = 1 if layers <= 16 else 2            # every other layer label on deep models keeps them legible
    ax.set_yticks(range(0, layers, step), [str(i) for i in range(0, layers, step)], fontsize=7)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.08, pad=0.03,
                 label="change in retrieval score" if change else "retrieval score")
    fig.tight_layout()
    return png_bytes(fig)

"""PNG rendering of a loss map: tokens as coloured boxes, wrapped, one row per sample, two variant columns.

Drawn with matplotlib (Agg) in a monospace font so a token's width is its character count: no text
measuring, and the layout is the same on every machine.
"""
from __future__ import annotations

from pathlib import Path

from ..plotting import pyplot, save_png

WRAP = 80            # characters per line inside one cell
CHAR_W, LINE_H = 0.0056, 0.16   # axes units per monospace 7pt character on an 11-inch figure / inches per line


def _lines(tokens: list[dict]) -> list[list[tuple[int, dict]]]:
    """Greedy wrap: [(column, token)] per line."""
    lines, cur, col = [], [], 0
    for t in tokens:
        n = max(len(t["text"]), 1)
        if col + n > WRAP and cur:
            lines.append(cur)
            cur, col = [], 0
        cur.append((col, t))
        col += n
    if cur:
        lines.append(cur)
    return lines


def colour(loss: float, vmax: float) -> str:
    """(Shared with loss_map.py's HTML.) Green (0) -> yellow -> red (vmax), as a CSS hex colour."""
    import matplotlib
    r, g, b, _ = matplotlib.colormaps["RdYlGn_r"](min(max(loss / vmax, 0.0), 1.0))
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def render_png(samples: list[dict], vmax: float, path: Path, title: str = "") -> None:
    from matplotlib.patches import Rectangle
    plt = pyplot()

    names = ("with template", "without template")
    heights = [max(len(_lines(s["variants"].get(n, []))) for n in names) + 1.5 for s in samples]
    fig_h = LINE_H * (sum(heights) + 3)
    fig = plt.figure(figsize=(11, fig_h), dpi=130)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, sum(heights) + 3)
    ax.invert_yaxis()
    ax.axis("off")
    ax.text(0.01, 1, title, fontsize=10, weight="bold", va="center")
    for j, name in enumerate(names):
        ax.text(0.01 + 0.5 * j, 2, f"{name} (green = low loss, red = high; 0 to {vmax:.1f})", fontsize=8,
                va="center", style="italic")
    y = 3.0
    for s, h in zip(samples, heights):
        for j, name in enumerate(names):
            x0 = 0.01 + 0.5 * j
            for li, line in enumerate(_lines(s["variants"].get(name, []))):
                for col, t in line:
                    x = x0 + col * CHAR_W
                    w = max(len(t["text"]), 1) * CHAR_W
                    ax.add_patch(Rectangle((x, y + li), w, 0.9, color=colour(t["loss"], vmax), lw=0))
                    ax.text(x, y + li + 0.45, t["text"].replace("\n", "⏎"), fontsize=7, family="monospace",
                            va="center", weight="bold" if t["value"] else "normal")
        y += h
    save_png(fig, path, dpi=None)     # the figure's own 130 dpi

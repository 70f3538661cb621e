"""Drawing a loss map: the self-contained HTML (each token's background coloured by its loss) and the PNG
(tokens as coloured boxes, wrapped, one row per sample, two variant columns).

The PNG is drawn with matplotlib (Agg) in a monospace font so a token's width is its character count: no
text measuring, and the layout is the same on every machine.
"""
from __future__ import annotations

import html
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
    """(Shared by the HTML and the PNG.) Green (0) -> yellow -> red (vmax), as a CSS hex colour."""
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


def render_html(samples: list[dict], summary: dict, vmax: float, model: str) -> str:
    rows = []
    for s in samples:
        cells = []
        for name in ("with template", "without template"):
            toks = s["variants"].get(name)
            body = "".join(
                f'<span class="t{" v" if t["value"] else ""}" style="background:{colour(t["loss"], vmax)}" '
                f'title="{t["loss"]:.3f}">{html.escape(t["text"])}</span>' for t in toks) if toks else "<i>n/a</i>"
            cells.append(f"<td>{body}</td>")
        rows.append(f"<tr><th>{html.escape(s['where'])}</th>{''.join(cells)}</tr>")
    summ = "".join(f"<tr><td>{html.escape(k)}</td><td>{v['format_tokens_mean_loss']}</td>"
                   f"<td>{v['value_tokens_mean_loss']}</td><td>{v['mean_loss']}</td></tr>" for k, v in summary.items())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>loss map: {html.escape(model)}</title>
<style>body{{font-family:sans-serif;margin:1.5em}} td,th{{border:1px solid #ccc;padding:.4em;vertical-align:top}}
table{{border-collapse:collapse}} .t{{font-family:monospace;white-space:pre;padding:1px 0}} .v{{font-weight:bold;
text-decoration:underline}}</style></head><body><h2>Answer-token loss: {html.escape(model)}</h2>
<p>Green = low loss, red = high (scale 0 to {vmax:.2f}); bold underlined = value tokens (gold key, value,
dictionary). Hover a token for its loss.</p>
<table><tr><th>variant</th><th>format tokens</th><th>value tokens</th><th>all</th></tr>{summ}</table><br>
<table><tr><th>sample</th><th>with answer template</th><th>without answer template</th></tr>{''.join(rows)}</table>
</body></html>
"""

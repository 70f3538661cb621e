"""The needle heatmap (depth x length: before, after, difference) and the effective-length figure.

Both draw report["retrieval"] (retrieval_grid.py) only. Lengths are columns in order, labelled with the mean
prompt tokens the model saw and the length setting (dictionaries or target tokens); the training length is a
dashed line placed between the columns by its tokens. `heatmap_panels` is the data each panel shows, kept
apart from the drawing so a test can check the numbers the figure is made of.
"""
from __future__ import annotations

import math
from typing import Any

from ..plotting import ACCURACY_CMAP, DIFFERENCE_CMAP, model_colors, pyplot
from .retrieval_grid import difference, effective_length_text


def heatmap_panels(grid: dict[str, Any], arm: str | None) -> list[dict[str, Any]]:
    """[{title, values (rows = positions, columns = lengths; None unmeasured), n (same shape; None for the
    difference), cmap, vmin, vmax, signed}]."""
    acc = grid["accuracy"]
    panels = []
    if "base" in acc:
        panels.append({"title": "before: base", "values": acc["base"], "n": grid["n"]["base"],
                       "cmap": ACCURACY_CMAP, "vmin": 0.0, "vmax": 1.0, "signed": False})
    if arm in acc:
        panels.append({"title": f"after: {arm}", "values": acc[arm], "n": grid["n"][arm],
                       "cmap": ACCURACY_CMAP, "vmin": 0.0, "vmax": 1.0, "signed": False})
    if "base" in acc and arm in acc:
        diff = difference(grid, arm)
        lim = max([0.1] + [abs(v) for row in diff for v in row if v is not None])
        panels.append({"title": f"difference: {arm} - base", "values": diff, "n": None, "cmap": DIFFERENCE_CMAP,
                       "vmin": -lim, "vmax": lim, "signed": True})   # symmetric limits: white is exactly 0
    return panels


def length_labels(grid: dict[str, Any]) -> list[str]:
    dicts = "dictionar" in grid["length_axis"]
    out = []
    for length, tok in zip(grid["lengths"], grid["tokens"]):
        setting = f"{length} dicts" if dicts else f"target {length}"
        out.append(f"{tok:,.0f} tok\n{setting}" if tok else setting)
    return out


def token_x(tokens: list[float | None], t: float) -> float | None:
    """Where `t` tokens falls on a categorical axis whose column j holds tokens[j] (linear between columns,
    extended past the ends, clipped to the axis); None when the columns' tokens are unknown."""
    if not tokens or any(x is None for x in tokens):
        return None
    if len(tokens) == 1:
        return 0.0 if t == tokens[0] else (-0.45 if t < tokens[0] else 0.45)
    j = next((k for k in range(len(tokens) - 1) if t <= tokens[k + 1]), len(tokens) - 2)
    x = j + (t - tokens[j]) / ((tokens[j + 1] - tokens[j]) or 1.0)
    return min(max(x, -0.45), len(tokens) - 0.55)


def _per_cell_n(grid: dict[str, Any], models: list[str]) -> int | None:
    """The one n every cell of every shown model has, else None (then each cell states its own)."""
    ns = {n for m in models for row in grid["n"][m] for n in row}
    return ns.pop() if len(ns) == 1 else None


def heatmap_figure(grid: dict[str, Any], arm: str | None, training_tokens: float | None = None):
    """Before | after | difference panels for one fine-tuned model (just the panels that exist), every cell
    annotated with its value (and its n where cells differ), the training length as a dashed line."""
    plt = pyplot()
    panels = heatmap_panels(grid, arm)
    shown = [m for m in ("base", arm) if m in grid["accuracy"]]
    same_n = _per_cell_n(grid, shown)
    rows, cols = len(grid["positions"]), len(grid["lengths"])
    width = (1.6 + max(1.05 * cols, 1.6)) * len(panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(width, 2.0 + 0.42 * rows), squeeze=False)
    train_x = token_x(grid["tokens"], training_tokens) if training_tokens else None
    for ax, p in zip(axes[0], panels):
        values = [[math.nan if v is None else v for v in row] for row in p["values"]]
        im = ax.imshow(values, cmap=p["cmap"], vmin=p["vmin"], vmax=p["vmax"], aspect="auto")
        for i in range(rows):
            for j in range(cols):
                v = p["values"][i][j]
                text = "n/a" if v is None else (f"{v:+.2f}" if p["signed"] else f"{v:.2f}")
                if same_n is None and p["n"] is not None:
                    text += f"\nn={p['n'][i][j]}"
                dark = v is not None and (abs(v) > 0.6 * p["vmax"] if p["signed"] else v < 0.55)
                cell = "white" if v is None else im.cmap(im.norm(v))   # a box in the cell's colour keeps the value
                #                                                         readable where the training line crosses
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black",
                        zorder=4, bbox={"boxstyle": "square,pad=0.15", "fc": cell, "ec": "none"})
        ax.set_xticks(range(cols), length_labels(grid))
        ax.set_yticks(range(rows), [f"{v:g}" if isinstance(v, float) else str(v) for v in grid["positions"]])
        ax.set_ylabel(grid["position_axis"])
        ax.set_title(p["title"])
        if train_x is not None:
            from matplotlib import patheffects    # white dashes edged in black: visible on dark and light cells
            ax.axvline(train_x, color="white", ls="--", lw=1.3,
                       path_effects=[patheffects.Stroke(linewidth=2.6, foreground="black"), patheffects.Normal()])
        fig.colorbar(im, ax=ax, fraction=0.05, pad=0.03)
    line = f"\ndashed line: training length, {training_tokens:,.0f} tokens" if train_x is not None else ""
    fig.supxlabel(f"context length (mean prompt tokens; length setting){line}", fontsize=8)
    seeds = max(grid["seeds"][m] for m in shown) if shown else 1
    per_cell = f"n = {same_n} per cell" if same_n is not None else "n per cell in each cell"
    fig.suptitle(f"kv-retrieval {grid['metric']} by depth and length ({per_cell}"
                 f"{f' over {seeds} seeds, accuracy their mean' if seeds > 1 else ''})", fontsize=10)
    fig.tight_layout()
    return fig


def effective_length_figure(grid: dict[str, Any], eff: dict[str, Any], models: list[str]):
    """Accuracy averaged over depths vs prompt tokens, the threshold, the training length, each model's
    effective length (legend)."""
    plt = pyplot()
    shown = [m for m in models if m in grid["by_length"]]
    colors = model_colors(shown)
    numeric = all(t for t in grid["tokens"])
    xs = grid["tokens"] if numeric else list(range(len(grid["lengths"])))
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for model in shown:
        pts = [(x, y) for x, y in zip(xs, grid["by_length"][model]) if y is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", lw=1.5, color=colors[model],
                label=f"{model}: {effective_length_text(eff, model)}")
        j = grid["lengths"].index(eff["by_model"][model]["length"]) if eff["by_model"][model]["length"] is not None \
            else None
        if j is not None:
            ax.plot([xs[j]], [grid["by_length"][model][j]], marker="*", ms=14, color=colors[model], ls="none")
    ax.axhline(eff["threshold"], color="black", ls=":", lw=1)
    ax.text(0.99, eff["threshold"] + 0.01, f"threshold {eff['threshold']:g}", fontsize=7, ha="right", va="bottom",
            transform=ax.get_yaxis_transform())      # x in axes units: the label stays clear of the data
    every_x = list(xs)
    train = eff.get("training_length_tokens")
    if train and numeric:
        ax.axvline(train, color="black", ls="--", lw=1.2, label=f"training length ({train:,.0f} tok)")
        every_x.append(train)
    lo, hi = min(every_x), max(every_x)
    pad = max(0.08 * (hi - lo), 0.08 * abs(hi), 0.5)   # one length, or one x: the point stays inside the axis
    ax.set_xlim(lo - pad, hi + pad)
    if numeric:
        ax.set_xticks(xs, [f"{t:,.0f}" for t in xs])
    else:
        ax.set_xticks(xs, length_labels(grid))
    ax.set_xlabel("mean prompt tokens" if numeric else grid["length_axis"])
    ax.set_ylabel(f"{grid['metric']}, mean over depths")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(f"effective length (*): longest length with {grid['metric']} >= {eff['threshold']:g}\n"
                 "there and at every shorter length", fontsize=9)
    fig.tight_layout()
    return fig

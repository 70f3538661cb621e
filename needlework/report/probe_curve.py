"""The probe curve: the synthetic held-out score and the MDQA probe against the optimizer step, read from a
training run's train_log.jsonl (the checks train/early_stop.py logs; the probe is train/mdqa_probe.py, logged
as `transfer_em`). It shows whether the real-task score was still rising when the synthetic score saturated,
which a stopping rule on the synthetic score alone cannot see.

A signal "saturates" at the first check within one item of its best value over the run (1/n below it, n the
number of items the check reads): finer distinctions are noise at these sizes.
"""
from __future__ import annotations

from typing import Any

from ..plotting import model_colors, png_bytes, pyplot

SYNTHETIC_KEYS = ("heldout_value_exact", "heldout_exact")   # the value's tokens when measured, else the answer's


def saturation_step(points: list[tuple[int, float]], n: int | None) -> int | None:
    """The first step whose value is within one item (1/n) of the run's best; None without points."""
    if not points:
        return None
    best = max(v for _, v in points)
    tol = 1.0 / n if n else 0.0
    return next(s for s, v in points if v >= best - tol - 1e-9)


def curve(log_rows: list[dict], held_out: int | None) -> dict[str, Any] | None:
    """{synthetic: {key, points, n, saturated_at, best}, probe: {...} or None} from a log's check rows;
    None when the run logged no checks."""
    checks = [r for r in log_rows if any(k in r for k in SYNTHETIC_KEYS) or "transfer_em" in r]
    if not checks:
        return None
    key = next((k for k in SYNTHETIC_KEYS if any(k in r for r in checks)), None)

    def signal(k: str | None, n: int | None) -> dict[str, Any] | None:
        pts = [(r["step"], r[k]) for r in checks if k and r.get(k) is not None]
        if not pts:
            return None
        return {"key": k, "points": pts, "n": n, "saturated_at": saturation_step(pts, n),
                "best": max(v for _, v in pts), "last": pts[-1][1]}

    probe_n = next((r["transfer_n"] for r in checks if r.get("transfer_n")), None)
    return {"synthetic": signal(key, held_out), "probe": signal("transfer_em", probe_n),
            "last_step": checks[-1]["step"]}


def reading(c: dict[str, Any]) -> str:
    """'synthetic held-out ... saturated at step 12 (best 1.00); MDQA probe ... at step 40 (best 0.42)'."""
    parts = []
    for name, label in (("synthetic", "synthetic held-out exact"), ("probe", "MDQA probe (NQ dev EM)")):
        s = c.get(name)
        if s:
            parts.append(f"{label} saturated at step {s['saturated_at']} (best {s['best']:.2f} of {s['n'] or '?'} "
                         f"items, last {s['last']:.2f} at step {s['points'][-1][0]})")
    return "; ".join(parts) or "no checks logged"


def figure(trainings: list[dict[str, Any]]):
    """One panel per signal, one line per training run (arm, seed); saturation steps marked."""
    runs = [t for t in trainings if t.get("curve")]
    if not runs:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), dpi=120, sharex=True)
    labels = [f"{t['arm']} s{t['seed']}" for t in runs]
    colors = dict(zip(labels, model_colors(labels).values()))
    for ax, name, title in ((axes[0], "synthetic", "synthetic held-out exact match"),
                            (axes[1], "probe", "MDQA probe: NQ dev exact match")):
        for t, label in zip(runs, labels):
            s = t["curve"].get(name)
            if not s:
                continue
            steps, vals = zip(*s["points"])
            ax.plot(steps, vals, "o-", ms=3, lw=1.4, color=colors[label], label=label)
            ax.axvline(s["saturated_at"], color=colors[label], ls=":", lw=1)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("optimizer step")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    if axes[1].get_legend_handles_labels()[0]:   # a run without a probe draws nothing there: no empty legend
        axes[1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def curve_png(trainings: list[dict[str, Any]]) -> bytes | None:
    fig = figure(trainings)
    return None if fig is None else png_bytes(fig)

"""`needlework compare RUN_A RUN_B`: per-bucket differences (B - A) with 95% intervals, and plots.

Each difference carries Newcombe's hybrid score interval built from the two Wilson intervals; "*" marks
a difference whose interval excludes 0. Plots (PNG, matplotlib Agg): accuracy vs gold position and
accuracy vs context length, one figure per benchmark and axis, both runs with their Wilson intervals.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import ConfigError
from .metrics import newcombe_diff

PLOT_AXES = {"position": "gold position", "length": "context length"}


def load_results(run: str | Path) -> dict:
    p = Path(run)
    p = p / "results.json" if p.is_dir() else p
    if not p.exists():
        raise ConfigError(f"{p} does not exist (expected a run directory holding results.json)")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{p} is not valid JSON ({e.msg})") from None
    if not isinstance(data, dict) or "benchmarks" not in data:
        raise ConfigError(f"{p} is not a needlework results.json (no 'benchmarks')")
    return data


def _diff(ma: dict, mb: dict) -> dict[str, Any] | None:
    if ma.get("accuracy") is None or mb.get("accuracy") is None or not ma.get("n") or not mb.get("n"):
        return None
    d, lo, hi = newcombe_diff(ma["correct"], ma["n"], mb["correct"], mb["n"])
    return {"a": ma["accuracy"], "b": mb["accuracy"], "diff": round(d, 6), "ci95": [round(lo, 6), round(hi, 6)],
            "significant": lo > 0 or hi < 0}


def compare_results(a: dict, b: dict) -> dict[str, Any]:
    """{benchmark: {metric, rows: [{scope, label, a, b, diff, ci95, significant}]}} over shared buckets."""
    out = {}
    for name in a["benchmarks"]:
        if name not in b["benchmarks"]:
            continue
        ra, rb = a["benchmarks"][name], b["benchmarks"][name]
        metric = ra.get("primary_metric")
        rows = []
        bb = {x["label"]: x for x in rb["buckets"]}
        for x in ra["buckets"]:
            if x["label"] in bb:
                d = _diff(x["metrics"].get(metric, {}), bb[x["label"]]["metrics"].get(metric, {}))
                if d:
                    rows.append({"scope": "bucket", "label": x["label"], **d})
        for ax, vals in ra.get("by_axis", {}).items():
            vb = {str(v["value"]): v for v in rb.get("by_axis", {}).get(ax, [])}
            for v in vals:
                if str(v["value"]) in vb and len(vals) > 1:
                    d = _diff(v["metrics"].get(metric, {}), vb[str(v["value"])]["metrics"].get(metric, {}))
                    if d:
                        rows.append({"scope": ax, "label": f"{ax}={v['value']}", **d})
        if "overall" in ra and "overall" in rb:
            d = _diff(ra["overall"]["metrics"].get(metric, {}), rb["overall"]["metrics"].get(metric, {}))
            if d:
                rows.append({"scope": "overall", "label": "overall", **d})
        out[name] = {"metric": metric, "rows": rows}
    return out


def format_table(cmp: dict, name_a: str, name_b: str) -> str:
    lines = [f"B - A   (A = {name_a}, B = {name_b}; 95% Newcombe interval; * = excludes 0)"]
    for bench, c in cmp.items():
        lines.append(f"\n{bench}  [{c['metric']}]")
        lines.append(f"  {'bucket':<44} {'A':>7} {'B':>7} {'B-A':>8}  95% CI")
        for r in c["rows"]:
            star = " *" if r["significant"] else ""
            lines.append(f"  {r['label']:<44} {r['a']:7.3f} {r['b']:7.3f} {r['diff']:+8.3f}  "
                         f"[{r['ci95'][0]:+.3f}, {r['ci95'][1]:+.3f}]{star}")
    return "\n".join(lines)


def plot(a: dict, b: dict, name_a: str, name_b: str, out_dir: Path) -> list[Path]:
    from ..plotting import ARM_COLORS, BASE_COLOR, category_axis, pyplot, save_png
    plt = pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for bench in a["benchmarks"]:
        if bench not in b["benchmarks"]:
            continue
        metric = a["benchmarks"][bench].get("primary_metric")
        for ax, title in PLOT_AXES.items():
            series = [(name, r["benchmarks"][bench].get("by_axis", {}).get(ax, [])) for name, r in
                      ((name_a, a), (name_b, b))]
            values = [v["value"] for v in series[0][1]]
            if len(values) < 2:
                continue
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            fig, axis = plt.subplots(figsize=(6, 4))
            for shift, color, (name, vals) in zip((-0.1, 0.1), (BASE_COLOR, ARM_COLORS[0]), series):
                pts = [(v["value"], v["metrics"][metric]) for v in vals
                       if v["value"] in values and v["metrics"].get(metric, {}).get("accuracy") is not None]
                if not pts:
                    continue
                xs = [x if numeric else values.index(x) + shift for x, _ in pts]
                ys = [m["accuracy"] for _, m in pts]
                lo = [y - m["ci95"][0] for y, (_, m) in zip(ys, pts)]
                hi = [m["ci95"][1] - y for y, (_, m) in zip(ys, pts)]
                axis.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=name, color=color)
            if not numeric:
                category_axis(axis, [str(v) for v in values])
            axis.set_xlabel(title)
            axis.set_ylabel(f"{metric} (95% Wilson)")
            axis.set_ylim(-0.02, 1.02)
            axis.set_title(f"{bench}: {metric} vs {title}")
            axis.legend()
            fig.tight_layout()
            paths.append(save_png(fig, out_dir / f"{bench}_{ax}.png", dpi=100))
    return paths


def compare(run_a: str | Path, run_b: str | Path, out: str | Path | None = None) -> tuple[str, list[Path]]:
    """Print-ready table and the PNG paths (default folder: RUN_B/compare)."""
    a, b = load_results(run_a), load_results(run_b)
    name_a, name_b = Path(run_a).name or str(run_a), Path(run_b).name or str(run_b)
    if name_a == name_b:
        name_a, name_b = f"A:{name_a}", f"B:{name_b}"
    shared = [n for n in a["benchmarks"] if n in b["benchmarks"]]
    if not shared:
        raise ConfigError(f"{run_a} and {run_b} share no benchmark")
    cmp = compare_results(a, b)
    out_dir = Path(out) if out else Path(run_b if Path(run_b).is_dir() else Path(run_b).parent) / "compare"
    from ..io import write_json
    write_json(out_dir / "compare.json", cmp)
    return format_table(cmp, name_a, name_b), plot(a, b, name_a, name_b, out_dir)

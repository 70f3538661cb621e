"""`needlework compare RUN_A RUN_B`: per-item paired differences (B - A) with 95% intervals, and plots.

Both runs answer the same items, so every difference (overall, per axis value, per bucket) comes from
needlework.evals.paired_runs, the one run comparison the report uses too: Newcombe's paired interval and
the exact McNemar p for 0/1 scores, a seeded paired bootstrap otherwise. "*" marks a difference whose
interval excludes 0 and whose p (where there is one) is below 0.05; "?" one where the two disagree. Items in
one run only are counted and listed, never dropped silently. A QA-style benchmark's companion measures (context gain
in nats, preference against chance 0.5; evals/companion.py) get their paired change beside the primary metric's,
never in its place, with a line on what each measures (evals/companion_paired.py). Plots (PNG, matplotlib Agg): accuracy vs gold position and vs context length, both runs with their Wilson intervals.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import ConfigError
from .companion_paired import compare_companion, has_companion
from .paired_runs import compare_runs, item_rows

PLOT_AXES = {"position": "gold position", "length": "context length"}


def load_results(run: str | Path) -> dict:
    p = Path(run)
    p = p / "results.json" if p.is_dir() else p
    if not p.exists():
        raise ConfigError(f"{p} does not exist (expected a run directory holding results.json)")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError(f"{p} is not a needlework results.json; give the run folder that holds one (the "
                          "output of `needlework eval --out`)") from None
    if not isinstance(data, dict) or "benchmarks" not in data:
        raise ConfigError(f"{p} is not a needlework results.json (no 'benchmarks')")
    return data


def _row(scope: str, label: str, r: dict) -> dict[str, Any]:
    return {"scope": scope, "label": label, "a": r["before"], "b": r["after"], "diff": r["delta"],
            "ci95": r["ci95"], "p": r.get("p"), "n": r["n"], "significant": r["significant"]}


def compare_results(a: dict, b: dict, items_a: dict[str, list[dict]], items_b: dict[str, list[dict]]) -> dict:
    """{benchmark: {metric, rows: [{scope, label, a, b, diff, ci95, p, n, significant}], paired, missing}}
    over the benchmarks both runs hold; `paired` is paired_runs.compare_items' full output."""
    # the metrics results.json aggregates (kv-retrieval: value_acc and value_dict_acc), primary first
    metrics = {name: [r["primary_metric"]] + [m for m in r.get("overall", {}).get("metrics", {})
                                              if m != r["primary_metric"]]
               for name, r in a["benchmarks"].items() if r.get("primary_metric")}
    paired = compare_runs(items_a, [items_b], metrics)
    out = {}
    for name in a["benchmarks"]:
        if name not in b["benchmarks"]:
            continue
        metric = a["benchmarks"][name].get("primary_metric")
        if name not in paired:
            out[name] = {"metric": metric, "rows": [], "missing": None,
                         "note": "no per-item scores in one of the runs: no paired comparison"}
            continue
        res = paired[name]["metrics"][metric]
        rows = [_row("bucket", x["label"], x) for x in res["buckets"] if x["n"]]
        for ax, vals in res["by_axis"].items():
            if 1 < len(vals) < len(res["buckets"]):   # as many values as buckets: the same rows again
                rows += [_row(ax, f"{ax}={v['value']}", v) for v in vals if v["n"]]
        if res["overall"]["n"]:
            rows.append(_row("overall", "overall", res["overall"]))
        for m, other in paired[name]["metrics"].items():
            if m != metric and other["overall"]["n"]:
                rows.append(_row("overall", f"overall [{m}]", other["overall"]))
        out[name] = {"metric": metric, "rows": rows, "missing": paired[name]["missing"],
                     "n_over_context": paired[name]["n_over_context"], "paired": paired[name]}
        if has_companion(items_a.get(name, [])) and has_companion(items_b.get(name, [])):
            comp = compare_companion(items_a[name], [items_b[name]])
            out[name]["companion"] = comp
            out[name]["rows"] += [_row("companion", f"companion [{m}]", r) for m, r in comp.items()]
    return out


def _mark(r: dict) -> str:
    """One rule for the star, the one the header states: an interval and a test that disagree are borderline."""
    agree = r.get("p") is None or r["significant"] == (r["p"] < 0.05)
    return (" *" if r["significant"] else "") if agree else " ?"


def format_table(cmp: dict, name_a: str, name_b: str) -> str:
    lines = [f"B - A   (A = {name_a}, B = {name_b}; paired over items: 95% Newcombe paired interval and exact "
             "McNemar p for 0/1 scores, paired bootstrap otherwise; * = the interval excludes 0 and, where there is a p, "
             "p < 0.05; ? = the interval and p disagree: borderline)"]
    for bench, c in cmp.items():
        lines.append(f"\n{bench}  [{c['metric']}]")
        if c.get("note"):
            lines.append(f"  {c['note']}")
            continue
        lines.append(f"  {'bucket':<40} {'n':>5} {'A':>7} {'B':>7} {'B-A':>8}  {'95% CI':<18} {'p':>8}")
        for r in c["rows"]:
            star = _mark(r)
            p = f"{r['p']:8.2g}" if r.get("p") is not None else f"{'–':>8}"
            lines.append(f"  {r['label']:<40} {r['n']:5d} {r['a']:7.3f} {r['b']:7.3f} {r['diff']:+8.3f}  "
                         f"{'[' + format(r['ci95'][0], '+.3f') + ', ' + format(r['ci95'][1], '+.3f') + ']':<18} "
                         f"{p}{star}")
        miss = c.get("missing") or {}
        if miss.get("only_before") or miss.get("only_after"):
            lines.append(f"  not paired: {miss['only_before']} items only in A (e.g. "
                         f"{', '.join(map(str, miss['examples_only_before'])) or '–'}), {miss['only_after']} only "
                         f"in B (e.g. {', '.join(map(str, miss['examples_only_after'])) or '–'})")
        if miss.get("prompt_differs"):
            lines.append(f"  not paired: {miss['prompt_differs']} items whose prompts differ between A and B under "
                         f"the same id (e.g. {', '.join(map(str, miss['examples_prompt_differs']))}): another seed "
                         "or other data")
        if c.get("n_over_context"):
            lines.append(f"  not paired: {c['n_over_context']} items over the model's context in A or B")
        for m, r in (c.get("companion") or {}).items():   # what each companion measure says, and what it does not
            extra = (f" (paired t = {r['t']:.2f}, {r['share_rose']:.0%} of items rose)" if r.get("t") is not None
                     else "")
            lines.append(f"  companion [{m}]{extra}: {r['measures']}")
    return "\n".join(lines)


def plot(a: dict, b: dict, name_a: str, name_b: str, out_dir: Path) -> list[Path]:
    from ..plotting import ARM_COLORS, BASE_COLOR, accuracy_lines_figure, save_png
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
            points = {}
            for name, vals in series:
                cells = [(v["value"], v["metrics"].get(metric, {})) for v in vals if v["value"] in values]
                pts = [(x, m["accuracy"], *m["ci95"]) for x, m in cells if m.get("accuracy") is not None]
                if pts:
                    points[name] = pts
            fig = accuracy_lines_figure(values, points, {name_a: BASE_COLOR, name_b: ARM_COLORS[0]},
                                        numeric=numeric, xlabel=title, ylabel=f"{metric} (95% Wilson)",
                                        title=f"{bench}: {metric} vs {title}")
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
    cmp = compare_results(a, b, item_rows(run_a), item_rows(run_b))
    paired = [c["paired"] for c in cmp.values() if c.get("paired")]
    if paired and not any(p["n_pairs"] for p in paired):
        differ = sum(p["missing"]["prompt_differs"] for p in paired)
        raise ConfigError(f"{run_a} and {run_b} have no item in common to pair"
                          + (f": {differ} items share an id but not a prompt (runs with another seed or other data?)"
                             if differ else "") + "; a paired comparison needs the same items asked of both")
    out_dir = Path(out) if out else Path(run_b if Path(run_b).is_dir() else Path(run_b).parent) / "compare"
    from ..io import write_json
    write_json(out_dir / "compare.json", cmp)
    return format_table(cmp, name_a, name_b), plot(a, b, name_a, name_b, out_dir)

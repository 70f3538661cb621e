"""Report dictionary -> tables of strings, shared by the HTML and Markdown renderers so both show the same
numbers formatted the same way (3 decimals; intervals in brackets; multi-seed cells as mean ± std)."""
from __future__ import annotations

from typing import Any

Table = dict[str, Any]   # {"title", "header": [...], "rows": [[...]], "note"}


def num(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def signed(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:+.{digits}f}"


def interval(ci: list[float] | None) -> str:
    return "" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def cell_text(cell: dict | None) -> str:
    if not cell or cell.get("accuracy") is None:
        return "–"
    if cell.get("seeds", 1) > 1:
        return f"{num(cell['accuracy'])} ± {num(cell.get('std'))} ({cell['seeds']} seeds)"
    return f"{num(cell['accuracy'])} {interval(cell.get('ci95'))} (n={cell['n']})"


def change_text(ch: dict | None) -> str:
    if not ch or ch.get("delta") is None:
        return "–"
    return f"{signed(ch['delta'])} {interval(ch.get('ci95'))}"


def benchmark_tables(name: str, bench: dict, models: list[str]) -> list[Table]:
    shown = [m for m in models if m in bench["overall"]]
    arms = [m for m in shown if m != "base" and m in bench["change"]]
    header_change = [f"change {m}" for m in arms]
    tables = []
    for axis, rows in bench["axes"].items():
        body = []
        for i, row in enumerate(rows):
            changes = [change_text(bench["change"][m][axis][i]) for m in arms]
            body.append([str(row["value"])] + [cell_text(row["cells"].get(m)) for m in shown] + changes)
        tables.append({"title": f"{name}: {bench['primary_metric']} by {axis}",
                       "header": [axis] + shown + header_change, "rows": body})
    overall = [["average (all items)"] + [cell_text(bench["overall"][m]) for m in shown]
               + [change_text(bench["change"][m]["overall"]) for m in arms]]
    tables.append({"title": f"{name}: {bench['primary_metric']} overall", "header": [""] + shown + header_change,
                   "rows": overall,
                   "note": "95% Wilson intervals (single seed) or mean ± std across seeds; changes: fine-tuned minus "
                           "base with Newcombe's 95% interval from counts pooled over seeds."})
    return tables


def table1(bench: dict, models: list[str]) -> Table:
    """Paper Table 1 shape: models as rows, tasks as columns, 'value (delta vs base)'."""
    t1 = bench["table1"]
    rows = []
    for m in models:
        if m not in t1["rows"]:
            continue
        row = [m]
        for task in t1["tasks"]:
            c = t1["rows"][m].get(task)
            if c is None:
                row.append("–")
                continue
            txt = num(c["value"]) + (f" ± {num(c['std'])}" if c.get("std") is not None else "")
            row.append(txt + (f" ({signed(c['delta'])})" if c.get("delta") is not None else ""))
        rows.append(row)
    return {"title": "general benchmarks (paper Table 1 shape): value (change vs base)",
            "header": ["model"] + t1["tasks"], "rows": rows}


def data_table(data: list[dict]) -> Table:
    rows = []
    for d in data:
        t = d.get("tokens") or {}
        rows.append([d["arm"], str(d["seed"]), str(d["task"]), str(d["n"]),
                     f"{t.get('min', '–')} / {t.get('mean', '–')} / {t.get('max', '–')}", str(t.get("total", "–")),
                     str(d.get("tokenizer")), str(d.get("data_hash"))])
    return {"title": "data card", "header": ["arm", "seed", "task", "samples", "tokens min / mean / max",
                                             "tokens total", "tokenizer", "data hash"], "rows": rows}


def training_table(training: list[dict]) -> Table:
    rows = [[t["arm"], str(t["seed"]),
             str(t.get("global_step")) + (" (answer learned: stopped early)" if t.get("stopped_early_at") else ""),
             num(t.get("final_loss"), 4), num(t.get("train_loss"), 4), str(t.get("tokens") or "–"),
             num(t.get("seconds"), 0) if t.get("seconds") is not None else "–", t.get("precision") or "–"]
            for t in training]
    return {"title": "training", "header": ["arm", "seed", "steps", "last logged loss", "mean train loss",
                                            "tokens", "seconds", "precision"], "rows": rows}


def timing_table(stage_seconds: dict[str, float | None], keys: dict[str, str]) -> Table:
    rows = [[name, keys.get(name, ""), num(s, 0) if s is not None else "–"] for name, s in stage_seconds.items()]
    return {"title": "stages", "header": ["stage", "key", "seconds (when it ran)"], "rows": rows}


def transfer_table(matrix: dict) -> Table:
    """Arms as rows, evaluated families as columns: 'change [paired 95% interval] (base -> fine-tuned, n)'."""
    rows = []
    for arm in matrix["arms"]:
        row = [arm]
        for fam in matrix["families"]:
            c = matrix["cells"][arm][fam]
            if c.get("delta") is None:
                row.append("–")
                continue
            row.append(f"{signed(c['delta'])} {interval(c['ci95'])} ({num(c['before'])} -> {num(c['after'])}, "
                       f"n={c['n']}; {'trained' if c['trained'] else 'held out'})")
        rows.append(row)
    return {"title": f"transfer matrix: change in {matrix['metric']} vs base, by evaluated family",
            "header": ["trained arm"] + matrix["families"], "rows": rows,
            "note": f"{matrix['method']}, pairing base and fine-tuned answers per item (pooled over seeds); "
                    "'held out': the arm's training data had no sample of that family."}


def mixture_table(data: list[dict]) -> Table | None:
    """Each mixture's components: asked weight and share, and the samples and tokens the file really holds."""
    rows = [[d["arm"], str(d["seed"]), c["name"], c["task"], f"{c['weight']:g}", num(c["share"]), str(c["samples"]),
             str(c["tokens"])] for d in data for c in (d.get("mixture") or [])]
    if not rows:
        return None
    return {"title": "data mixture", "header": ["arm", "seed", "component", "task", "weight", "share asked",
                                                "samples", "tokens"], "rows": rows}

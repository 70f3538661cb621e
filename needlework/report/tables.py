"""Report dictionary -> tables of strings, shared by the HTML and Markdown renderers so both show the same
numbers formatted the same way (3 decimals; intervals in brackets; multi-seed cells as mean ± std)."""
from __future__ import annotations

from typing import Any

from .hooks import report_hook

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


def signed_interval(ci: list[float] | None) -> str:
    return "" if not ci else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def change_text(ch: dict | None) -> str:
    """A paired change: delta [95% interval]; over seeds, the mean delta with its std across seeds."""
    if not ch or ch.get("delta") is None:
        return "–"
    seeds = ch.get("seeds")
    spread = f" ± {num(seeds['std'])} ({seeds['seeds']} seeds)" if seeds and seeds.get("std") is not None else ""
    return f"{signed(ch['delta'])}{spread} {signed_interval(ch.get('ci95'))}".rstrip()


def p_text(p: float | None) -> str:
    if p is None:
        return ""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


PAIRED_NOTE = ("changes: fine-tuned minus base, paired over the same items: 95% Newcombe paired interval "
               "(exact McNemar p) for 0/1 scores, paired bootstrap over items otherwise; with several seeds, the "
               "mean of the per-seed paired differences with a bootstrap interval over training runs and items "
               "(it widens when the runs disagree).")


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
                   "note": "95% Wilson intervals (single seed) or mean ± std across seeds; " + PAIRED_NOTE})
    return tables


def companion_table(name: str, bench: dict) -> Table | None:
    """The companion measures' paired changes (context gain in nats, preference against chance 0.5), beside the
    exact-match tables, with what each measures and does not."""
    rows, meaning, need = [], {}, []
    for arm, ch in bench.get("change", {}).items():
        if ch.get("companion") and ch.get("items_to_detect"):
            need.append(f"{arm}: " + ", ".join(f"{m} {n if n is not None else 'no change to detect'}"
                                                for m, n in ch["items_to_detect"].items()))
        for m, c in (ch.get("companion") or {}).items():
            meaning[m] = c.get("measures")
            t = f"t = {c['t']:.2f}, {c['share_rose']:.0%} rose" if c.get("t") is not None else ""
            rows.append([m, arm, num(c.get("before")), num(c.get("after")), change_text(c), c.get("reading", ""), t,
                         str(c.get("n", ""))])
    if not rows:
        return None
    return {"title": f"{name}: companion measures (beside exact match, never instead of it)",
            "header": ["measure", "model", "base", "fine-tuned", "change [95% CI]", "reading", "paired t", "n"],
            "rows": rows, "note": "; ".join(f"{m}: {text}" for m, text in meaning.items())
            + ". Paired over the items both models have it for (bootstrap over items, clusters resampled together)."
            + (" Items each measure would need to detect the change it showed here (two-sided 5%, 80% power, "
               "first seed; evals/power.py): " + "; ".join(need) + "." if need else "")}


PAPER_TASK_NAMES = {"mmlu": "MMLU", "hellaswag": "HellaSwag", "gsm8k": "GSM8K", "triviaqa": "TriviaQA",
                    "nq_open": "NQ-Open", "mmlu_generative": "MMLU (generative)", "arc_easy": "ARC-Easy",
                    "arc_challenge": "ARC-Challenge", "piqa": "PIQA", "winogrande": "WinoGrande", "boolq": "BoolQ"}
def benchmark_label(name: str, bench: dict | None = None) -> str:
    """A benchmark's name as a reader should see it: FLenQA regenerated offline (not the released records) is
    "FLenQA-style (regenerated)" wherever it is named."""
    label = report_hook(name).label
    if name.startswith("flenqa") and bench and bench.get("describe", {}).get("source") == "generated":
        label = label.replace("FLenQA", "FLenQA-style (regenerated)")
    return label


def general_column(t1: dict, task: str) -> str:
    """'HellaSwag (acc, 0-shot)': the task with the metric and shots its column holds."""
    col = t1.get("columns", {}).get(task) or {}
    metric = f"{col['metric']}, {col.get('shots', 0)}-shot" if col.get("metric") else ""
    return PAPER_TASK_NAMES.get(task, task) + (f" ({metric})" if metric else "")


def table1(bench: dict, models: list[str]) -> Table:
    """Paper Table 1 shape: a row per model (value, ± std over seeds; acc_norm beside acc where the harness
    reports it), a paired-change row and a claim-3 reading row per arm; substitutes noted under the table."""
    t1 = bench["table1"]
    rows = []
    for m in models:
        if m not in t1["rows"]:
            continue
        row = [m]
        for task in t1["tasks"]:
            c = t1["rows"][m].get(task)
            beside = ((t1.get("columns", {}).get(task) or {}).get("beside") or {}).get(m) or {}
            row.append("–" if c is None else num(c["value"]) + (f" ± {num(c['std'])}" if c.get("std") is not None
                                                                 else "")
                       + "".join(f" ({k} {num(v)})" for k, v in beside.items()))
        rows.append(row)
    for m in models:
        if m in t1.get("change", {}):
            rows.append([f"change {m}"] + [change_text(t1["change"][m].get(task)) for task in t1["tasks"]])
            rows.append([f"reading {m} (±{t1['margin']:g})"] + [t1["kept"][m][task] for task in t1["tasks"]])
    notes = [f"{PAPER_TASK_NAMES.get(t, t)}: {c['note']}" for t, c in t1.get("columns", {}).items() if c.get("note")]
    notes += [f"{PAPER_TASK_NAMES.get(t, t)}: {why}" for t, why in t1.get("untestable", {}).items() if why]
    return {"title": "general benchmarks (paper Table 1 shape)",
            "header": ["model"] + [general_column(t1, t) for t in t1["tasks"]], "rows": rows,
            "note": PAIRED_NOTE + f" Reading: kept when the 90% paired interval lies inside ±{t1['margin']:g} "
                    "(TOST); not testable where the base model is at chance or at the ceiling. "
                    + " ".join(n + "." for n in notes)}


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


def evaluated_table(evaluated: dict[str, list[dict]]) -> Table:
    """One row per evaluation: the model, its precision and the sha256 of the weights and tokenizer evaluated."""
    rows = [[m, "–" if e.get("seed") is None else str(e["seed"]), str(e.get("model") or "–"),
             str(e.get("precision") or "–"), e.get("weights_sha256") or "not hashable here (served)",
             e.get("tokenizer_sha256") or "–"] for m, evals in evaluated.items() for e in evals]
    return {"title": "evaluated weights", "header": ["model", "seed", "loaded from", "precision", "weights sha256",
                                                      "tokenizer sha256"], "rows": rows,
            "note": "sha256 over the weight files and config.json (and over the tokenizer files) of the folder each "
                    "evaluation loaded; equal hashes mean the same model was evaluated."}


def family_matrix_table(matrix: dict) -> Table:
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
    return {"title": f"family matrix: change in {matrix['metric']} vs base, by evaluated family",
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

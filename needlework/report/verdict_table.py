"""The verdict as a table: one row per claim and measure (base, fine-tuned, paired change [95%], reading), what
the report opens with and what `needlework run` prints when it ends. Read from the report dictionary only
(collect.py), the same numbers as the verdict paragraphs below it.
"""
from __future__ import annotations

from typing import Any

from .pooled_transfer import pooled_rows
from .retrieval_grid import effective_length_text
from .tables import Table, benchmark_label, general_column, num, signed, signed_interval
from .hooks import claim_benchmarks
from .verdicts import GENERAL, NOT_MEASURED, RETRIEVAL, undecided_note

HEADER = ["claim", "measure (n)", "base", "fine-tuned", "paired change [95%]", "reading"]


def _change(ch: dict) -> str:
    return f"{signed(ch['delta'])} {signed_interval(ch['ci95'])}" if ch.get("ci95") else "–"


def _bench_rows(claim: str, name: str, bench: dict | None, label: str,
                left_out: dict[str, str] | None = None, rep: dict | None = None) -> list[list[str]]:
    """One row per arm; `left_out` maps an arm to the reading of a task its claim-2 pool leaves out."""
    if bench is None:
        return [[claim, label, "–", "–", "–", NOT_MEASURED]]
    rows = []
    for arm, change in bench.get("change", {}).items():
        ch = change.get("overall") or {}
        measure = f"{label}, {bench['primary_metric']} ({ch.get('n', '?')})" + (f" [{arm}]" if len(bench["change"]) > 1
                                                                                 else "")
        rows.append([claim, measure, num(bench["overall"]["base"].get("accuracy")),
                     num(bench["overall"][arm].get("accuracy")), _change(ch),
                     (left_out or {}).get(arm) or _reading(ch, rep)])
    return rows or [[claim, label, num(bench["overall"].get("base", {}).get("accuracy")), "–", "–",
                     "no fine-tuned model"]]


def _reading(ch: dict, rep: dict | None) -> str:
    note = undecided_note(rep, ch) if rep is not None else ""
    return (ch.get("reading") or "no comparison") + (f": {note}" if note else "")


def verdict_rows(rep: dict[str, Any]) -> list[list[str]]:
    b = rep["benchmarks"]
    rows = _bench_rows("1. retrieval improves", RETRIEVAL, b.get(RETRIEVAL), benchmark_label(RETRIEVAL))
    eff = (rep.get("retrieval") or {}).get("effective_length")
    if eff:
        arm = eff["finetuned_arm"]
        rows.append(["1. retrieval improves", f"effective length ({eff['threshold']:g} accuracy)",
                     effective_length_text(eff, "base"), effective_length_text(eff, arm), "–", "–"])
    pooled = rep.get("transfer_pooled")
    arms = (pooled or {}).get("arms") or {}
    # the transfer benchmarks this run evaluated (the suite has many: a row each for those it did not would bury
    # the ones it did); none at all is one "not measured" row
    measured = [n for n in claim_benchmarks("transfer") if n in b] or list(claim_benchmarks("transfer"))[:1]
    for name in measured:
        left_out = {arm: t["left_out"] for arm, ap in arms.items() for t in ap["tasks"]
                    if t["name"] == name and t["left_out"]}
        label = benchmark_label(name, b.get(name)) if name in b else "transfer benchmarks"
        rows += _bench_rows("2. it transfers", name, b.get(name), label, left_out, rep)
    rows += pooled_rows(pooled)
    general = (b.get(GENERAL) or {}).get("table1")
    if not general or not general.get("change"):
        rows.append(["3. general ability kept", "general benchmarks", "–", "–", "–", NOT_MEASURED])
        return rows
    for arm, changes in general["change"].items():
        for task in general["tasks"]:
            ch = changes.get(task) or {}
            base = (general["rows"].get("base") or {}).get(task) or {}
            ft = (general["rows"].get(arm) or {}).get(task) or {}
            rows.append([f"3. kept within ±{general['margin']:g}", f"{general_column(general, task)} ({ch.get('n', '?')})",
                         num(base.get("value")), num(ft.get("value")), _change(ch), general["kept"][arm][task]])
        rows.append([f"3. kept within ±{general['margin']:g}", "the claim, every testable task", "", "", "",
                     general["claim"][arm]])
    return rows


def verdict_table(rep: dict[str, Any]) -> Table:
    return {"title": "verdict at a glance", "header": HEADER, "rows": rep["verdict"]["rows"], "color_readings": True,
            "note": "paired over the same items; claim 3 by equivalence (90% interval inside the margin). The "
                    "paragraphs below give every interval's method, p-values and caveats."}


def reading_class(text: str) -> str | None:
    """The colour a reading cell gets in report.html: good, bad or open (nothing shown either way)."""
    t = str(text)
    if t.startswith(("better", "kept")):
        return "good"
    if t.startswith(("worse", "not kept", "inconsistent")):
        return "bad"
    if t.startswith(("no detectable", "inconclusive", "not testable", "not measured", "no comparison")):
        return "open"
    return None

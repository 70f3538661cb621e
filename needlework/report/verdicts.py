"""The report's opening: one paragraph per claim of the paper, each a number, its paired 95% interval and a
plain reading ("better" / "no detectable change" / "worse": the interval above, around or below zero).

1. retrieval improves: kv-retrieval value accuracy (value-and-dictionary accuracy beside it);
2. it transfers to real tasks: MDQA and FLenQA;
3. general ability is kept: the general tasks (MMLU, HellaSwag, GSM8K, TriviaQA, NQ-Open).
A benchmark this run did not evaluate reads "not measured in this run". Text only, from the report
dictionary (collect.py), so report.html, report.md and report.json carry the same sentences.
"""
from __future__ import annotations

from typing import Any

from .tables import PAPER_TASK_NAMES, num, p_text, signed

TRANSFER = {"mdqa": "MDQA", "flenqa": "FLenQA"}
NOT_MEASURED = "not measured in this run"


def change_words(ch: dict) -> str:
    ci = ch.get("ci95")
    if not ci:
        return f"change {signed(ch.get('delta'))} ({ch.get('note') or 'no paired interval'})"
    seeds = ch.get("seeds")
    spread = (f", mean ± std over {seeds['seeds']} seeds {signed(seeds['mean'])} ± {num(seeds['std'])}, per seed "
              + ", ".join(signed(v) for v in seeds["values"]) if seeds and seeds.get("std") is not None else "")
    p = p_text(ch.get("p"))
    return (f"change {signed(ch['delta'])} (95% paired interval {signed(ci[0])} to {signed(ci[1])}"
            f"{', ' + p if p else ''}, n = {ch.get('n')} items{spread}): {ch.get('reading')}{_caveat(ch)}")


def _caveat(ch: dict) -> str:
    """The reading follows the interval; say so when the (conservative) exact McNemar test disagrees."""
    p = ch.get("p")
    if p is None or (ch.get("reading") in ("better", "worse")) == (p < 0.05):
        return ""
    if p >= 0.05:
        return " by the interval, though the exact McNemar test (conservative with few discordant items) has p >= 0.05"
    return ", though the exact McNemar test has p < 0.05"


def _change_sentence(bench: dict, arm: str, label: str, metric: str | None = None) -> str:
    """'<label>: base X -> arm Y, change ... : reading' for the primary metric or another one."""
    if metric is None or metric == bench["primary_metric"]:
        base, ft, ch = bench["overall"]["base"], bench["overall"][arm], bench["change"][arm]["overall"]
    else:
        cells = bench.get("other_metrics", {}).get(metric, {})
        base, ft = cells.get("base") or {}, cells.get(arm) or {}
        ch = bench["change"][arm].get("metrics", {}).get(metric) or {}
    if not ch:
        return f"{label}: no comparison (no scored items)"
    return f"{label}: base {num(base.get('accuracy'))} -> {arm} {num(ft.get('accuracy'))}, {change_words(ch)}"


def _arms(bench: dict) -> list[str]:
    return list(bench.get("change", {}))


def effective_length_sentence(rep: dict[str, Any]) -> str:
    """Hook for the depth x length grid: report["retrieval"]["effective_length"] (written by the grid work,
    report/retrieval_grid.py) as {threshold, rule, training_length_tokens, by_model: {model: {tokens, length,
    censored}}}; a plain number or {model: number} is accepted too. "" when the run has no grid."""
    eff = (rep.get("retrieval") or {}).get("effective_length")
    if eff is None:
        return ""
    if not isinstance(eff, dict):
        return f" Effective length: {eff}."
    per_model = eff.get("by_model") or {k: v for k, v in eff.items() if k in rep.get("models", [])}

    def length(v: Any) -> str:
        if not isinstance(v, dict):
            return str(v)
        if v.get("length") is None:
            return "below the threshold at every tested length"
        size = f"{v['tokens']:,.0f} tokens" if v.get("tokens") else f"length {v['length']}"
        return (">= " if v.get("censored") else "") + size + (" (the longest tested)" if v.get("censored") else "")

    rule = f" ({eff['rule']})" if eff.get("rule") else (f" (accuracy >= {eff['threshold']})" if "threshold" in eff
                                                         else "")
    train = (f"; training length {eff['training_length_tokens']:,.0f} tokens"
             if eff.get("training_length_tokens") else "")
    return f" Effective length{rule}: " + ", ".join(f"{m} {length(v)}" for m, v in per_model.items()) + train + "."


def retrieval_claim(rep: dict[str, Any]) -> str:
    head = "Claim 1, retrieval improves (kv-retrieval, value accuracy over all items). "
    bench = rep["benchmarks"].get("kv-retrieval")
    if bench is None:
        return head + NOT_MEASURED + "."
    if not _arms(bench):
        return head + "no before/after comparison in this run (no base model evaluation)."
    parts = []
    for arm in _arms(bench):
        s = _change_sentence(bench, arm, "value accuracy")
        if "value_dict_acc" in bench.get("other_metrics", {}):
            s += "; " + _change_sentence(bench, arm, "value-and-dictionary accuracy", "value_dict_acc")
        parts.append(s)
    return head + ". ".join(parts) + "." + effective_length_sentence(rep)


def transfer_claim(rep: dict[str, Any]) -> str:
    parts = []
    for name, label in TRANSFER.items():
        bench = rep["benchmarks"].get(name)
        if bench is None:
            parts.append(f"{label}: {NOT_MEASURED}")
        elif not _arms(bench):
            parts.append(f"{label}: no before/after comparison in this run")
        else:
            parts += [_change_sentence(bench, arm, f"{label} ({bench['primary_metric']})") for arm in _arms(bench)]
    return "Claim 2, the skill transfers to real long-context tasks. " + ". ".join(parts) + "."


def general_claim(rep: dict[str, Any]) -> str:
    head = "Claim 3, general ability is kept (paper Table 1 tasks). "
    bench = rep["benchmarks"].get("general")
    if bench is None:
        return head + NOT_MEASURED + "."
    t1 = bench.get("table1", {})
    if not t1.get("change"):
        return head + "no before/after comparison in this run."
    parts = []
    for arm, tasks in t1["change"].items():
        for task in t1["tasks"]:
            ch = tasks.get(task) or {}
            name = PAPER_TASK_NAMES.get(task, task)
            base = (t1["rows"].get("base") or {}).get(task) or {}
            ft = (t1["rows"].get(arm) or {}).get(task) or {}
            parts.append(f"{name}: base {num(base.get('value'))} -> {arm} {num(ft.get('value'))}, "
                         + (change_words(ch) if ch.get("delta") is not None else "no comparison"))
    return head + ". ".join(parts) + "."


def family_transfer(rep: dict[str, Any]) -> str | None:
    """Beyond the paper (the transfer evaluation): each arm's change on the families it trained on and on the
    families it never saw, each with its paired interval and reading; None when the run has no matrix."""
    from ..evals.paired import reading
    m = rep.get("transfer")
    if not m:
        return None
    parts = []
    for arm in m["arms"]:
        for trained in (True, False):
            cells = [(f, m["cells"][arm][f]) for f in m["families"] if m["cells"][arm][f]["trained"] == trained]
            words = [f"{f} {num(c['before'])} -> {num(c['after'])}, change {signed(c['delta'])} (95% paired interval "
                     f"{signed(c['ci95'][0])} to {signed(c['ci95'][1])}, n = {c['n']}): {reading(c['ci95'])}"
                     for f, c in cells if c.get("delta") is not None]
            if words:
                parts.append(f"{arm}, {'trained' if trained else 'held-out'} families: " + "; ".join(words))
    return "Beyond the paper, transfer between needle families. " + ". ".join(parts) + "."


def claims(rep: dict[str, Any]) -> list[str]:
    """The three paragraphs, in the paper's order (and the transfer matrix's reading when the run has one)."""
    extra = family_transfer(rep)
    return [retrieval_claim(rep), transfer_claim(rep), general_claim(rep)] + ([extra] if extra else [])

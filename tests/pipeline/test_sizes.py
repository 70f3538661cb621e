"""A run's items are fixed by its config and its named size, never by how fast this machine measured: the same
command evaluates the same items everywhere; the plan only warns, naming a smaller size, when it expects the run
to take longer than the preset's limit. The old time budget's settings are refused with what replaced them."""
from __future__ import annotations

import dataclasses

import pytest
import yaml
from pipeline_helpers import mini_config

from needlework.config import ConfigError
from needlework.pipeline.measure import Throughput

TP = Throughput("measured", prefill_tokens_per_s=1000.0, decode_step_s=0.05, decode_batch=4,
                train_tokens_per_s=400.0, train_precision="fp32", eval_precision="float32")


def _scaled(factor: float) -> Throughput:
    return dataclasses.replace(TP, prefill_tokens_per_s=TP.prefill_tokens_per_s * factor,
                               decode_step_s=TP.decode_step_s / factor,
                               train_tokens_per_s=TP.train_tokens_per_s * factor)


def _items(cfg) -> dict[str, list[str]]:
    """Every item id the run's evaluation builds (general: the per-task counts its limits give)."""
    from needlework.evals.registry import get_benchmark
    from needlework.evals.runner import limit_per_bucket
    ev = cfg.eval_for(cfg.base_model(), "<x>")
    out = {}
    for name in ev.benchmarks:
        bench = get_benchmark(name)
        items = limit_per_bucket(bench.build(getattr(ev, bench.section), ev.seed), ev.limit)
        out[name] = [it.id for it in items]
    out["general"] = [f"{t}:{ev.general.limits.get(t, ev.general.limit)}" for t in ev.general.tasks]
    return out


@pytest.mark.parametrize("factor", [10.0, 0.1])
def test_the_same_items_whatever_speed_was_measured(tiny_model_dir, tmp_path, monkeypatch, capsys, factor):
    """`needlework run` with this machine measured 10x faster and 10x slower than a reference: the config the
    run receives, and so every item id and count, is the reference's; only the plan's estimate differs."""
    from needlework.cli import main
    from needlework.pipeline import measure
    import needlework.pipeline as pipeline
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(mini_config(tiny_model_dir, tmp_path / "runs", **{
        "estimate.measure": True, "estimate.expected_minutes": 1.0})))
    received = {}

    def fake_run(cfg, *a, **k):
        received["cfg"] = cfg
        return tmp_path / "runs" / "mini"
    monkeypatch.setattr(pipeline, "run", fake_run)
    plans = {}
    for label, f in (("reference", 1.0), ("scaled", factor)):
        monkeypatch.setattr(measure, "measure_cached", lambda model, context, log=print, **shape: _scaled(f))
        assert main(["run", str(path)]) == 0
        assert main(["run", str(path), "--dry-run"]) == 0
        plans[label] = (received["cfg"], capsys.readouterr().out)
    (ref, ref_plan), (other, other_plan) = plans["reference"], plans["scaled"]
    assert other == ref and _items(other) == _items(ref)
    counts = lambda text: [x for x in text.splitlines() if x.startswith("  eval per model:")]   # noqa: E731
    assert counts(other_plan) == counts(ref_plan) and counts(ref_plan)
    assert f"measured here: prefill {1000 * factor:,.0f} tok/s" in other_plan   # the plan did see the speed
    assert _items(ref)["kv-retrieval"] and len(_items(ref)["mdqa"]) == 4


def test_the_demo_preset_states_its_items_and_each_size_is_fixed():
    """The cpu-demo's sizes are item counts in the preset (recorded in the resolved config): default kv-retrieval
    27, MDQA 45, ARC-Easy 570 + HellaSwag 400; a size's own entry deep-merges over the preset, a key=value still
    wins over it, and a size a config does not define is refused by name."""
    from needlework.pipeline import load_preset

    def counts(cfg):
        kv = cfg.eval.kv_retrieval
        return (kv.n * len(kv.depths) * len(kv.num_dicts), cfg.eval.mdqa.n * len(cfg.eval.mdqa.positions),
                {t: cfg.eval.general.limits[t] for t in cfg.eval.general.tasks})
    default = load_preset("cpu-demo")
    assert counts(default) == (27, 45, {"arc_easy": 570, "hellaswag": 400})
    assert default.threads is None and default.train.num_threads is None   # every core, not a preset's number
    small = load_preset("cpu-demo", ["size=small"])
    assert counts(small) == (27, 30, {"arc_easy": 300, "hellaswag": 200}) and not small.report.loss_map
    full = load_preset("cpu-demo", ["size=full"])
    assert counts(full) == (45, 120, {"arc_easy": 570, "hellaswag": 1000, "piqa": 1000})
    assert full.train.mdqa_probe.enabled and not default.train.mdqa_probe.enabled
    assert counts(load_preset("cpu-demo", ["size=small", "eval.mdqa.n=12"]))[1] == 36
    with pytest.raises(ConfigError, match="size: full is not defined by this config"):
        load_preset("cpu-transfer", ["size=full"])


def test_the_demo_general_sizes_decide_claim_3_at_the_measured_discordance():
    """The arithmetic in presets/cpu-demo.yaml, with the report's own interval (Newcombe, 90%): at each task's
    measured discordance (general.DISCORDANCE) a change of 0 or of -0.03 reads kept within the ±0.05 margin."""
    from needlework.evals.equivalence import Z90
    from needlework.evals.general.benchmark import DISCORDANCE
    from needlework.evals.paired import newcombe_paired
    from needlework.pipeline import load_preset
    cfg = load_preset("cpu-demo")
    margin = cfg.report.equivalence_margin
    assert margin == 0.05
    for task in cfg.eval.general.tasks:
        n, d = cfg.eval.general.limits[task], DISCORDANCE[task]
        for change in (0.0, -0.03):
            b = (round(d * n) - round(change * n)) // 2   # base right, fine-tuned wrong
            c = round(d * n) - b                           # base wrong, fine-tuned right
            a = round(0.5 * n) - b
            _, lo, hi = newcombe_paired(a, b, c, n - a - b - c, z=Z90)
            assert -margin < lo and hi < margin, (task, n, d, change, lo, hi)


def test_the_plan_warns_over_the_limit_naming_the_smaller_size(mini):
    from needlework.pipeline.run import over_limit_lines
    sizes = {"small": {"eval": {"mdqa": {"n": 1}}}, "full": {"eval": {"mdqa": {"n": 4}}}}
    cfg = mini(**{"estimate.expected_minutes": 15.0, "estimate.expected_minutes_fp32": 25.0, "sizes": sizes})
    assert over_limit_lines(cfg, 14 * 60, "bf16") == []
    [line] = over_limit_lines(cfg, 16 * 60, "bf16")
    assert "more than the 15 minutes" in line and "`--size small`" in line and "at size default" in line
    assert over_limit_lines(cfg, 20 * 60, "fp32") == []                     # fp32's own limit
    assert "`--size small`" in over_limit_lines(cfg, 26 * 60, "fp32")[0]
    full = dataclasses.replace(cfg, size="full")
    assert "`--size default`" in over_limit_lines(full, 16 * 60, "bf16")[0]
    small = dataclasses.replace(cfg, size="small")
    assert "no smaller size" in over_limit_lines(small, 16 * 60, "bf16")[0]


@pytest.mark.parametrize("key", ["estimate.budget_minutes=15", "estimate.budget_minutes_fp32=20",
                                 "estimate.budget_margin=0.1"])
def test_the_old_budget_settings_are_refused_naming_what_replaced_them(tiny_model_dir, tmp_path, key):
    from needlework.pipeline import load_run_config
    base = mini_config(tiny_model_dir, tmp_path / "runs")
    with pytest.raises(ConfigError, match=rf"^{key.split('=')[0]} was removed: .*`size`"):
        load_run_config(base=base, overrides=[key])


def test_the_budget_flag_is_refused_in_one_line(capsys):
    from needlework.cli import main
    with pytest.raises(SystemExit) as e:
        main(["run", "--dry-run", "--budget", "15m"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "argument --budget: was removed" in err and "--size small|default|full" in err


def test_threads_are_set_once_at_the_run_level(tiny_model_dir, tmp_path):
    from needlework.pipeline import load_run_config
    base = mini_config(tiny_model_dir, tmp_path / "runs")
    with pytest.raises(ConfigError, match=r"train.num_threads: .*top-level `threads`"):
        load_run_config(base=base, overrides=["train.num_threads=2"])
    cfg = load_run_config(base=base, overrides=["threads=3"])
    assert cfg.train_for(["x.jsonl"], 0, "out", cfg.arm).num_threads == 3

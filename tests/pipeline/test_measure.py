"""Plan estimates from throughputs measured on this machine, on the configured model."""
from __future__ import annotations

import json

import pytest


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLEWORK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _shape(**kw):
    base = dict(precision="fp32", params="attention", eval_len=64, eval_batch=4,
                train_len=48, train_batch=2)
    base.update(kw)
    return base


def test_measure_times_every_kind_of_step_on_the_real_model(tiny_model_dir, cache):
    from needlework.pipeline.measure import measure
    lines = []
    tp = measure(str(tiny_model_dir), log=lines.append, **_shape())
    assert tp.source == "measured"
    assert tp.prefill_tokens_per_s > 0 and tp.train_tokens_per_s > 0 and tp.decode_step_s > 0
    assert tp.decode_batch == 4 and tp.train_precision == "fp32" and tp.eval_precision == "float32"
    assert "measured on this machine" in lines[0]


def test_measurements_are_cached_per_machine_and_settings(tiny_model_dir, cache, monkeypatch):
    from needlework.pipeline import measure as m
    calls = []
    real = m.measure

    def counting(*a, **kw):
        calls.append(1)
        return real(*a, **kw)
    monkeypatch.setattr(m, "measure", counting)
    monkeypatch.setattr(m, "busy_load", lambda: None)
    a = m.measure_cached(str(tiny_model_dir), log=lambda _: None, **_shape())
    b = m.measure_cached(str(tiny_model_dir), log=lambda _: None, **_shape())
    assert len(calls) == 1 and a == b
    m.measure_cached(str(tiny_model_dir), log=lambda _: None, **_shape(train_len=96))   # other shape: measured
    assert len(calls) == 2
    assert len(json.loads((cache / "throughput.json").read_text())) == 2


def test_a_measurement_on_a_busy_machine_is_used_once_not_remembered(tiny_model_dir, cache, monkeypatch):
    from needlework.pipeline import measure as m
    lines = []
    monkeypatch.setattr(m, "busy_load", lambda: 3.5)
    tp = m.measure_cached(str(tiny_model_dir), log=lines.append, **_shape())
    assert tp.source == "measured" and not (cache / "throughput.json").exists()
    assert "busy while measuring: load 3.5 per core" in lines[-1]
    monkeypatch.setattr(m, "busy_load", lambda: None)
    m.measure_cached(str(tiny_model_dir), log=lines.append, **_shape())      # idle: measured again, remembered
    assert "measured on this machine" in lines[-1] and len(json.loads((cache / "throughput.json").read_text())) == 1


def test_busy_load_is_the_load_per_core_above_one(monkeypatch):
    import os

    from needlework.pipeline.measure import busy_load
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (5.0, 0.0, 0.0))
    assert busy_load() == 2.5
    monkeypatch.setattr(os, "getloadavg", lambda: (1.9, 0.0, 0.0))
    assert busy_load() is None


def test_plan_uses_measured_throughputs_and_warns_past_the_promise(mini, cache):
    from needlework.pipeline import plan_text
    text = plan_text(mini(**{"estimate.measure": True, "estimate.expected_minutes": 1e-6}), log=lambda _: None)
    assert "measured here: prefill" in text and "tok/s" in text
    assert "WARNING: that is more than" in text
    relaxed = plan_text(mini(**{"estimate.measure": True, "estimate.expected_minutes": 1e6}), log=lambda _: None)
    assert "WARNING" not in relaxed


def test_plan_falls_back_to_configured_figures_when_the_model_cannot_be_loaded(mini, cache, tmp_path):
    from needlework.pipeline import plan_text
    cfg = mini(**{"estimate.measure": True})
    cfg.train.model = str(tmp_path / "no-such-model")
    text = plan_text(cfg, log=lambda _: None)
    assert "from estimate.*" in text and "no weights on this machine" in text


def test_run_prints_the_measured_plan_before_starting(mini, cache):
    from needlework.pipeline import run
    lines = []
    run(mini(**{"estimate.measure": True}), log=lines.append)
    i = next(k for k, line in enumerate(lines) if "estimated time for unfinished stages" in line)
    assert i < next(k for k, line in enumerate(lines) if "generate" in line and "running" in line)
    lines.clear()
    run(mini(**{"estimate.measure": True}), log=lines.append)    # all finished: nothing to estimate
    assert not any("estimated time" in line for line in lines)


def test_general_estimate_counts_the_limited_items_of_each_task():
    from needlework.evals.general.general import GeneralSettings
    from needlework.evals.general.general import GENERAL_ITEM_TOKENS, estimate
    s = GeneralSettings(limits={"mmlu": 57, "gsm8k": 0.5, "hellaswag": 20000}, limit=10)
    est = estimate(s)
    # mmlu 57; hellaswag capped at its 10,042 rows; gsm8k half of 1,319 (660); triviaqa and nq_open the limit 10
    assert est["items"] == 57 + 10042 + 660 + 10 + 10
    assert est["tokens"] == (57 * GENERAL_ITEM_TOKENS["mmlu"] + 10042 * GENERAL_ITEM_TOKENS["hellaswag"]
                             + 660 * GENERAL_ITEM_TOKENS["gsm8k"] + 10 * GENERAL_ITEM_TOKENS["triviaqa"]
                             + 10 * GENERAL_ITEM_TOKENS["nq_open"])

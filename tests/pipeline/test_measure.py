"""Plan estimates from throughputs measured on this machine, on the configured model."""
from __future__ import annotations

import json

import pytest


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLEWORK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _shape(**kw):
    from needlework.precision import resolve_context
    base = dict(context=resolve_context("fp32", "cpu"), params="attention", eval_len=64, eval_batch=4,
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
    monkeypatch.setattr(m, "busy_load", lambda: "other processes used 60% of its CPUs")
    tp = m.measure_cached(str(tiny_model_dir), log=lines.append, **_shape())
    assert tp.source == "measured" and not (cache / "throughput.json").exists()
    assert lines[0].startswith("measuring this machine's speed with")   # said before the wait, not after
    assert "busy while measuring: other processes used 60% of its CPUs" in lines[-1]
    monkeypatch.setattr(m, "busy_load", lambda: None)
    m.measure_cached(str(tiny_model_dir), log=lines.append, **_shape())      # idle: measured again, remembered
    assert "measured on this machine" in lines[-1] and len(json.loads((cache / "throughput.json").read_text())) == 1


def test_busy_is_other_processes_never_this_one(monkeypatch):
    """A fresh run converts its model and measures at full load, so the load average said busy and the
    measurement was never remembered; only what other processes use counts. Hand-made /proc samples: 200
    jiffies elapsed, 150 busy, 120 of them this process's -> others used 15% (not busy); 150 busy, 30 own -> 60%."""
    import os

    from needlework.pipeline import measure as m
    samples = iter([(1000, 5000, 400), (1150, 5200, 520), (1000, 5000, 400), (1150, 5200, 430)])
    monkeypatch.setattr(m, "_cpu_jiffies", lambda: next(samples))
    assert m.others_busy(0) == pytest.approx(0.15)
    assert m.others_busy(0) == pytest.approx(0.60)
    monkeypatch.setattr(m, "others_busy", lambda window_s=0.5: 0.6)
    assert m.busy_load() == "other processes used 60% of its CPUs"
    monkeypatch.setattr(m, "others_busy", lambda window_s=0.5: 0.1)
    assert m.busy_load() is None
    monkeypatch.setattr(m, "others_busy", lambda window_s=0.5: None)   # no /proc: the load average per core
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (5.0, 0.0, 0.0))
    assert m.busy_load() == "load 2.5 per core"
    monkeypatch.setattr(os, "getloadavg", lambda: (1.9, 0.0, 0.0))
    assert m.busy_load() is None

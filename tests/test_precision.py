"""The dtype policy: bf16 where the CPU has it natively, decided by its flags and never by a timing; explained."""
from __future__ import annotations

import json

import pytest

from needlework import precision
from needlework.config import ConfigError


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLEWORK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    return tmp_path / "cache"


def _fake_cpu(monkeypatch, flags: set[str], speedup: float) -> list[int]:
    calls = []
    monkeypatch.setattr(precision, "cpu_flags", lambda: set(flags))

    def calibrate(**kw):
        calls.append(1)
        return speedup
    monkeypatch.setattr(precision, "calibrate", calibrate)
    return calls


def test_auto_picks_fp32_without_native_bf16_and_never_calibrates(fresh_cache, monkeypatch):
    calls = _fake_cpu(monkeypatch, {"avx2", "fma", "avx512f"}, speedup=5.0)
    p = precision.choose("auto", "cpu")
    assert p.bf16 is False and p.native is False
    assert "no native bf16" in p.reason
    assert calls == []          # emulated bf16 is never worth measuring for auto


def test_auto_picks_bf16_from_the_flags_alone_however_a_timing_would_come_out(fresh_cache, monkeypatch):
    for speedup in (0.5, 1.05, 2.0):   # a loaded machine once measured native bf16 at 0.75x: never consulted
        calls = _fake_cpu(monkeypatch, {"avx2", "amx_bf16"}, speedup=speedup)
        p = precision.choose("auto", "cpu")
        assert p.bf16 is True and p.native is True and calls == []
        assert "native bf16" in p.reason


def test_explicit_bf16_without_native_support_warns_with_measured_slowdown(fresh_cache, monkeypatch, capsys):
    _fake_cpu(monkeypatch, {"avx2"}, speedup=0.04)
    p = precision.choose(True, "cpu")
    assert p.bf16 is True                           # honoured: the user asked for it
    err = capsys.readouterr().err
    assert "warning" in err and "25.0x slower" in err


def test_explicit_false_and_strings(fresh_cache, monkeypatch):
    _fake_cpu(monkeypatch, {"avx512_bf16"}, speedup=3.0)
    assert precision.choose(False, "cpu").bf16 is False
    assert precision.choose("false", "cpu").bf16 is False
    assert precision.choose("true", "cpu").bf16 is True
    assert precision.choose("fp32", "cpu").bf16 is False and precision.choose("bf16", "cpu").bf16 is True
    with pytest.raises(ConfigError, match="precision must be auto, bf16 or fp32"):
        precision.choose("maybe", "cpu")


def test_the_slowdown_of_explicit_emulated_bf16_is_cached_per_machine(fresh_cache, monkeypatch):
    calls = _fake_cpu(monkeypatch, {"avx2"}, speedup=1.9)
    precision.choose("bf16", "cpu")
    precision.choose("bf16", "cpu")
    assert len(calls) == 1
    cached = json.loads((fresh_cache / "precision.json").read_text())
    assert list(cached.values())[0]["speedup"] == 1.9


def test_onednn_isa_cap_below_bf16_counts_as_not_native(fresh_cache, monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512_bf16"})
    assert precision.cpu_has_native_bf16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not precision.cpu_has_native_bf16()


def test_real_calibration_returns_a_ratio():
    r = precision.calibrate(rounds=1, tokens=16, width=32, hidden=64)
    assert r > 0


def test_hf_backend_auto_dtype_follows_the_policy(tiny_model_dir, fresh_cache, monkeypatch):
    import torch

    from needlework.backends.hf import HFBackend
    _fake_cpu(monkeypatch, {"avx512_bf16"}, speedup=2.5)
    b = HFBackend(str(tiny_model_dir), precision="auto", progress=False)
    assert b.dtype == torch.bfloat16 and "native bf16" in b.precision["reason"]
    _fake_cpu(monkeypatch, {"avx2"}, speedup=2.5)
    b = HFBackend(str(tiny_model_dir), precision="auto", progress=False)
    assert b.dtype == torch.float32 and b.precision["dtype"] == "float32"


def test_resolve_device_auto_is_the_cpu_without_a_gpu(monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert precision.resolve_device("auto") == "cpu" and precision.resolve_device("cuda:1") == "cuda:1"
    assert precision.resolve("fp32", "auto").device == "cpu"


def test_backend_and_general_resolve_like_training_with_the_same_warning(tiny_model_dir, fresh_cache, monkeypatch,
                                                                          capsys):
    """One resolution: explicit bf16 on a CPU without native bf16 warns in the evaluation backend and in
    `general`'s hf model exactly as in training (backends/hf once skipped the warning)."""
    from needlework.backends import BackendConfig, HFBackendConfig
    from needlework.backends.hf import HFBackend
    from needlework.evals.general.models import harness_model
    _fake_cpu(monkeypatch, {"avx2"}, speedup=0.04)
    expected = precision.resolve("bf16", "cpu").reason
    assert "25.0x slower" in capsys.readouterr().err
    b = HFBackend(str(tiny_model_dir), precision="bf16", device="cpu", progress=False)
    assert b.precision == {"dtype": "bfloat16", "reason": expected}
    assert "25.0x slower" in capsys.readouterr().err
    hm = harness_model(BackendConfig(kind="hf", model=str(tiny_model_dir), hf=HFBackendConfig(precision="bf16")),
                       "multiple_choice")
    assert hm.kwargs["dtype"] == "bfloat16" and hm.kwargs["device"] == "cpu"
    assert "25.0x slower" in capsys.readouterr().err


def test_renamed_settings_are_refused_naming_the_new_one():
    from needlework.backends import BackendConfig
    from needlework.config import from_dict
    from needlework.train import TrainConfig
    with pytest.raises(ConfigError, match=r"train.bf16 is now train.precision"):
        from_dict(TrainConfig, {"bf16": False}, "train")
    with pytest.raises(ConfigError, match=r"backend.dtype is now backend.hf.precision"):
        from_dict(BackendConfig, {"dtype": "fp32"}, "backend")
    from needlework.probes.loss_map import LossMapConfig
    with pytest.raises(ConfigError, match=r"loss_map.bf16 is now loss_map.precision"):
        from_dict(LossMapConfig, {"bf16": True}, "loss_map")

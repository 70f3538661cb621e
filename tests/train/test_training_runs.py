"""End-to-end runs of run_training on the tiny model: learning, outputs, skip, resume == uninterrupted."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from train_helpers import tiny_kwargs

from needlework.config import ConfigError
from needlework.io import read_jsonl
from needlework.train import TrainConfig, run_training
from needlework.train import callbacks as cb


def test_thirty_steps_drive_answer_loss_near_zero(tiny_fast_model_dir, kv_file, tmp_path):
    kwargs = tiny_kwargs(tiny_fast_model_dir, [kv_file], tmp_path / "run", params="full", lr=1e-2, max_steps=30,
                         save_steps=1000)
    out = run_training(TrainConfig(**kwargs))
    log = list(read_jsonl(out / "train_log.jsonl"))
    assert [r["step"] for r in log] == list(range(1, 31))
    assert log[0]["loss"] > 9.0
    # 8 samples (3 dictionaries, 3-4 digit keys), full batch: answer loss ~12 -> ~0.001 in 30 steps.
    assert log[-1]["loss"] < 0.05, [round(r["loss"], 3) for r in log]
    assert all(r["tokens_per_s"] > 0 and r["lr"] > 0 for r in log)
    for name in ("model.safetensors", "config.json", "tokenizer.json", "train_config.yaml", "provenance.json",
                 "loss_curve.png", "train_done.json"):
        assert (out / name).exists(), name
    assert not (out / "training_args.bin").exists()
    from transformers import AutoModelForCausalLM
    AutoModelForCausalLM.from_pretrained(out)
    # Same config again: skipped, not retrained.
    before = (out / "model.safetensors").stat().st_mtime_ns
    run_training(TrainConfig(**kwargs))
    assert (out / "model.safetensors").stat().st_mtime_ns == before


class _Interrupt(Exception):
    pass


def test_resume_equals_uninterrupted(tiny_model_dir, kv_file, tmp_path, monkeypatch):
    # GA 2 x batch 2, 8 samples: 2 steps per epoch, so the interruption at step 3 falls mid-epoch-2;
    # a linear schedule checks the scheduler state too.
    kw = dict(params="attention", lr=1e-2, lr_scheduler="linear", global_batch=4, batch_size=2, max_steps=6,
              save_steps=3)
    full = run_training(TrainConfig(**tiny_kwargs(tiny_model_dir, [kv_file], tmp_path / "a", **kw)))

    orig = cb.ProgressCallback.on_step_end

    def crash(self, args, state, control, **k):
        orig(self, args, state, control, **k)
        if state.global_step == 4:
            raise _Interrupt()

    monkeypatch.setattr(cb.ProgressCallback, "on_step_end", crash)
    with pytest.raises(_Interrupt):
        run_training(TrainConfig(**tiny_kwargs(tiny_model_dir, [kv_file], tmp_path / "b", **kw)))
    monkeypatch.setattr(cb.ProgressCallback, "on_step_end", orig)
    with pytest.raises(ConfigError, match="--resume"):
        run_training(TrainConfig(**tiny_kwargs(tiny_model_dir, [kv_file], tmp_path / "b", **kw)))
    resumed = run_training(TrainConfig(**tiny_kwargs(tiny_model_dir, [kv_file], tmp_path / "b", resume=True, **kw)))

    a, b = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    log_a = [r["loss"] for r in read_jsonl(full / "train_log.jsonl")]
    log_b = [r["loss"] for r in read_jsonl(resumed / "train_log.jsonl")]
    assert log_a == log_b
    assert json.loads((resumed / "train_done.json").read_text())["global_step"] == 6

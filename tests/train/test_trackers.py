"""Training curves in the trackers researchers use: `report_to` (tensorboard | wandb | trackio) is handed to
transformers' TrainingArguments, off by default (the demo's config sets none), refused up front with the package
to install when that tracker is not installed, and no part of what decides the trained weights."""
from __future__ import annotations

import importlib.util

import pytest
from train_helpers import tiny_kwargs

from needlework.config import ConfigError
from needlework.train import TrainConfig, run_training
from needlework.train.trainer import training_arguments


def _installed(monkeypatch, *names):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name in names else (None if name in ("tensorboard", "tensorboardX",
                                                                            "wandb", "trackio") else real(name, *a)))


def test_off_by_default_in_training_and_in_the_demo(tmp_path):
    from needlework.pipeline import load_preset
    assert TrainConfig(data=["x"]).report_to == []
    assert training_arguments(TrainConfig(data=["x"]).resolved(), tmp_path, 1, bf16=False).report_to == []
    assert load_preset("cpu-demo").train.report_to == []


def test_a_chosen_tracker_reaches_training_arguments(tmp_path, monkeypatch):
    _installed(monkeypatch, "tensorboard", "wandb")
    monkeypatch.setenv("WANDB_MODE", "")   # restored to the caller's (unset) after the test
    monkeypatch.delenv("WANDB_MODE")
    cfg = TrainConfig(data=["x"], out=str(tmp_path / "kv-run"), report_to=["tensorboard", "wandb"])
    cfg.validate()
    args = training_arguments(cfg.resolved(), tmp_path / "ckpt", 1, bf16=False)
    assert args.report_to == ["tensorboard", "wandb"] and args.run_name == "kv-run"
    import os
    assert os.environ["WANDB_MODE"] == "offline"
    assert cfg.identity() == TrainConfig(data=["x"], out=str(tmp_path / "kv-run")).identity()


@pytest.mark.parametrize("tracker, package", [("tensorboard", "tensorboard"), ("wandb", "wandb"),
                                              ("trackio", "trackio")])
def test_a_tracker_that_is_not_installed_is_refused_naming_its_package(monkeypatch, tracker, package):
    _installed(monkeypatch)
    with pytest.raises(ConfigError, match=rf"report_to: {tracker} needs the package '{package}'.*pip install {package}"):
        TrainConfig(data=["x"], report_to=[tracker]).validate()


def test_an_unknown_tracker_is_refused():
    with pytest.raises(ConfigError, match="report_to: 'mlflow' is not one of tensorboard, wandb, trackio"):
        TrainConfig(data=["x"], report_to=["mlflow"]).validate()


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed")
def test_tensorboard_receives_the_training_curve(tiny_model_dir, kv_file, tmp_path):
    out = run_training(TrainConfig(**tiny_kwargs(tiny_model_dir, [kv_file], tmp_path / "run", max_steps=2,
                                                 report_to=["tensorboard"])))
    assert list(out.rglob("events.out.tfevents.*"))

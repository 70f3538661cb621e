"""The training model loads after TrainingArguments exist (issue 18, item 5), so what they set up applies at load.

A ZeRO-3 launch attaches its DeepSpeed config to the TrainingArguments (transformers keeps a weak reference
to it: `is_deepspeed_zero3_enabled`), and from_pretrained then builds the model inside `deepspeed.zero.Init`,
partitioned, instead of a full copy per process. DeepSpeed is not installed here: a stand-in config is attached
where TrainingArguments would attach theirs, and a stand-in `deepspeed.zero.Init` records what the real
from_pretrained (through needlework.models.load_causal_lm) hands it, then stops the load.
"""
from __future__ import annotations

import sys
import types
import weakref

import pytest
from train_helpers import tiny_kwargs


class _Loaded(Exception):
    """Raised by the stand-in zero.Init: the load reached ZeRO-3 initialisation (nothing more to run)."""


class _Zero3Config:
    """What HfTrainerDeepSpeedConfig answers transformers' loader (is_zero3, config)."""
    config = {"zero_optimization": {"stage": 3}, "train_micro_batch_size_per_gpu": 8}

    def is_zero3(self) -> bool:
        return True


def test_zero3_config_made_with_the_training_arguments_is_honoured_at_load(tiny_model_dir, kv_file, tmp_path,
                                                                           monkeypatch):
    from transformers.integrations import deepspeed as hf_ds

    from needlework import models
    from needlework.train import TrainConfig, run_training
    from needlework.train import trainer as trainer_mod

    order: list[str] = []
    real_args, real_load = trainer_mod.training_arguments, models.load_causal_lm

    def training_arguments(*a, **kw):
        args = real_args(*a, **kw)
        args.stand_in_ds_config = ds = _Zero3Config()   # lives as long as the arguments, as the real one does
        monkeypatch.setattr(hf_ds, "_hf_deepspeed_config_weak_ref", weakref.ref(ds))
        order.append("training arguments")
        return args

    def load_causal_lm(*a, **kw):
        order.append("load")
        return real_load(*a, **kw)

    inits: list = []

    class Init:
        def __init__(self, config_dict_or_path=None, **kw):
            inits.append(config_dict_or_path)

        def __enter__(self):
            raise _Loaded

        def __exit__(self, *exc):
            return False

    # the modules transformers' ZeRO-3 load path imports (transformers/integrations/deepspeed.py)
    names = ["deepspeed", "deepspeed.runtime", "deepspeed.runtime.zero", "deepspeed.runtime.zero.partition_parameters"]
    fake = {name: types.ModuleType(name) for name in names}
    for parent, child in zip(names, names[1:]):
        setattr(fake[parent], child.rsplit(".", 1)[1], fake[child])
    fake["deepspeed"].zero = types.SimpleNamespace(Init=Init)
    pp = fake["deepspeed.runtime.zero.partition_parameters"]
    pp.zero_wrapper_for_fp_tensor_constructor, pp._orig_torch_arange = (lambda fn, *a, **kw: fn), object()
    for name, module in fake.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(trainer_mod, "training_arguments", training_arguments)
    monkeypatch.setattr(models, "load_causal_lm", load_causal_lm)
    cfg = TrainConfig(**tiny_kwargs(tiny_model_dir, [kv_file], tmp_path / "out", max_steps=1))
    with pytest.raises(_Loaded):
        run_training(cfg)
    assert order == ["training arguments", "load"]
    assert inits == [_Zero3Config.config]   # from_pretrained entered zero.Init with the launch's config


def test_without_deepspeed_the_load_is_plain_and_training_runs(tiny_model_dir, kv_file, tmp_path):
    """The ordinary path (no ZeRO-3 config) is untouched: the stand-in above leaves nothing behind."""
    from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

    from needlework.io import read_done
    from needlework.train import TrainConfig, run_training

    assert not is_deepspeed_zero3_enabled()
    out = run_training(TrainConfig(**tiny_kwargs(tiny_model_dir, [kv_file], tmp_path / "out", max_steps=1)))
    assert read_done(out) is not None

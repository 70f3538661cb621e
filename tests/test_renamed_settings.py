"""Old setting names and values are refused in one line that names the new one; nothing reads an old name as the
new (the RENAMED tables only word the error)."""
from __future__ import annotations

import pytest

from needlework.backends import BackendConfig
from needlework.config import ConfigError, from_dict
from needlework.evals.general.benchmark import GeneralConfig
from needlework.pipeline import load_preset
from needlework.probes.loss_map import LossMapConfig
from needlework.train.config import TrainConfig


@pytest.mark.parametrize("overrides, message", [
    (["train.transfer_probe.enabled=true"], "train.transfer_probe is now train.mdqa_probe"),
    (["train.early_stop.metric=transfer"], "train.early_stop.metric: 'transfer' is now 'mdqa-probe'"),
    (["arms.x.train.transfer_probe.enabled=true"], "arms.x.train.transfer_probe is now arms.x.train.mdqa_probe"),
    (["arms.x.train.early_stop.metric=transfer"], "arms.x.train.early_stop.metric: 'transfer' is now 'mdqa-probe'"),
])
def test_a_run_config_with_an_old_name_is_refused_naming_the_new(overrides, message):
    with pytest.raises(ConfigError) as e:
        load_preset("cpu-demo", overrides)
    assert str(e.value) == message and "\n" not in str(e.value)


@pytest.mark.parametrize("cls, data, message", [
    (TrainConfig, {"bf16": True}, "bf16 is now precision"),
    (TrainConfig, {"transfer_probe": {"enabled": True}}, "transfer_probe is now mdqa_probe"),
    (BackendConfig, {"dtype": "bf16"}, "dtype is now hf.precision"),
    (BackendConfig, {"batch_size": 4}, "batch_size is now hf.batch_size"),
    (BackendConfig, {"base_url": "http://x/v1"}, "base_url is now openai.base_url"),
    (LossMapConfig, {"bf16": True}, "bf16 is now precision"),
    (GeneralConfig, {"device": "cpu"}, "device is now"),
])
def test_every_renamed_key_is_an_error_not_an_alias(cls, data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(cls, data)
    for old in getattr(cls, "RENAMED", {}):   # the table words errors only: no field answers to an old name
        assert old not in {f for f in cls.__dataclass_fields__}


def test_the_new_names_load():
    cfg = load_preset("cpu-demo", ["train.mdqa_probe.enabled=true", "train.early_stop.enabled=true",
                                   "train.early_stop.metric=mdqa-probe", "train.early_stop.every=4"])
    assert cfg.train.mdqa_probe.enabled and cfg.train.early_stop.metric == "mdqa-probe"


@pytest.mark.parametrize("overrides, message", [
    (["backend.openai.base_url=http://127.0.0.1:8000/v1"],
     "backend.openai.base_url is a setting of the openai backend, but backend.kind is hf: remove it, or set "
     "backend.kind=openai"),
    (["backend.kind=openai"],   # the preset's backend.hf.batch_size: 16 would be ignored by a server
     "backend.hf.batch_size is a setting of the hf backend, but backend.kind is openai: remove it, or set "
     "backend.kind=hf"),
    (["backend.base_url=http://127.0.0.1:8000/v1"], "backend.base_url is now backend.openai.base_url"),
])
def test_a_backend_setting_for_the_other_kind_is_refused_naming_its_backend(overrides, message):
    with pytest.raises(ConfigError) as e:
        load_preset("cpu-demo", overrides)
    assert str(e.value) == message


def test_backend_settings_at_their_defaults_or_for_their_own_kind_load():
    with pytest.raises(ConfigError, match="backend.hf.engine is a setting of the hf backend"):
        from_dict(BackendConfig, {"kind": "openai", "hf": {"engine": "static"}}, "backend")
    saved = from_dict(BackendConfig, {**BackendConfig().__dict__, "kind": "openai", "model": "m"})   # a full dump
    assert saved.kind == "openai" and saved.hf.engine == "continuous"
    assert from_dict(BackendConfig, {"kind": "openai", "openai": {"concurrency": 2}}).openai.concurrency == 2
    assert from_dict(BackendConfig, {"hf": {"batch_size": 2}}).hf.batch_size == 2

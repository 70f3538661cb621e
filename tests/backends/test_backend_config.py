"""backend settings split by backend: the common ones at the top, each backend's own in `backend.hf` /
`backend.openai`. Nested keys load from overrides and YAML; the flat keys of 0.1.0 and a section of the other kind
are refused in one line naming the setting; and the split changes no key that finished work is found by (the eval
cache's model identity, the pipeline's eval stage keys), pinned to their values before the split (commit f2c80b8).
How `needlework config show backend` shows the two sections: tests/test_config_help.py."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from needlework.backends import BackendConfig, HFBackendConfig, OpenAIBackendConfig
from needlework.config import ConfigError, from_dict, load_config
from needlework.evals.runner import EvalConfig, model_identity
from needlework.pipeline import load_preset


def _eval(*overrides: str) -> EvalConfig:
    return load_config(EvalConfig, None, ["model=m", *overrides])


def test_nested_overrides_and_yaml_reach_their_sections(tmp_path):
    cfg = _eval("backend.hf.batch_size=16", "backend.hf.engine=static", "backend.context_length=4096")
    assert (cfg.backend.hf.batch_size, cfg.backend.hf.engine, cfg.backend.context_length) == (16, "static", 4096)
    f = tmp_path / "c.yaml"
    f.write_text("model: m\nbackend:\n  kind: openai\n  openai:\n    base_url: http://127.0.0.1:8000/v1\n"
                 "    concurrency: 64\n")
    cfg = load_config(EvalConfig, f)
    assert (cfg.backend.kind, cfg.backend.openai.base_url, cfg.backend.openai.concurrency) == (
        "openai", "http://127.0.0.1:8000/v1", 64)
    assert load_preset("cpu-demo").backend.hf.batch_size == 16   # the presets' sections


def test_on_and_off_unquoted_are_the_words_not_yaml_booleans(tmp_path):
    """YAML 1.1 reads a bare `off` as False: `backend.chat_template=off` was refused unless quoted."""
    assert _eval("backend.chat_template=off").backend.chat_template == "off"
    assert _eval("backend.chat_template=on").backend.chat_template == "on"
    path = tmp_path / "eval.yaml"
    path.write_text("model: m\nbackend:\n  chat_template: off\n")
    assert load_config(EvalConfig, str(path), []).backend.chat_template == "off"
    with pytest.raises(ConfigError, match="backend.hf.engine"):          # other booleans are still refused
        _eval("backend.hf.engine=off")


@pytest.mark.parametrize("old, section", [
    ("batch_size=16", "hf"), ("precision=fp32", "hf"), ("engine=static", "hf"), ("seed=1", "hf"),
    ("base_url=http://x/v1", "openai"), ("concurrency=4", "openai"), ("serve=[x]", "openai"),
    ("tokenizer=t", "openai"), ("serve_timeout_s=5", "openai"),
])
def test_a_flat_key_of_0_1_0_is_refused_naming_its_new_place(old, section):
    name = old.split("=")[0]
    with pytest.raises(ConfigError) as e:
        _eval(f"backend.{old}")
    assert str(e.value) == f"backend.{name} is now backend.{section}.{name}"


def test_a_flat_key_in_yaml_and_in_a_run_config_is_refused_in_one_line(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model: m\nbackend:\n  kind: openai\n  base_url: http://127.0.0.1:8000/v1\n")
    with pytest.raises(ConfigError) as e:
        load_config(EvalConfig, f)
    assert str(e.value) == "backend.base_url is now backend.openai.base_url"
    with pytest.raises(ConfigError) as e:
        load_preset("cpu-demo", ["backend.batch_size=4"])
    assert str(e.value) == "backend.batch_size is now backend.hf.batch_size"
    with pytest.raises(ConfigError, match=r"^backend.dtype is now backend.hf.precision"):
        _eval("backend.dtype=fp32")


@pytest.mark.parametrize("overrides, message", [
    (["backend.openai.base_url=http://127.0.0.1:8000/v1"], "backend.openai.base_url is a setting of the openai "
     "backend, but backend.kind is hf: remove it, or set backend.kind=openai"),
    (["backend.kind=openai", "backend.hf.engine=static"], "backend.hf.engine is a setting of the hf backend, but "
     "backend.kind is openai: remove it, or set backend.kind=hf"),
])
def test_a_setting_in_the_other_kinds_section_is_refused_naming_it(overrides, message):
    with pytest.raises(ConfigError) as e:
        _eval(*overrides)
    assert str(e.value) == message


def test_the_other_kinds_section_at_its_defaults_loads():
    """A full dump (every section written out at its defaults) loads again, whichever kind it names; a preset's
    hf section is dropped with `backend.hf={}` to evaluate through a server instead."""
    dump = dataclasses.asdict(BackendConfig(kind="openai", model="m"))
    assert from_dict(BackendConfig, dump, "backend").openai == OpenAIBackendConfig()
    assert from_dict(BackendConfig, {**BackendConfig().__dict__, "kind": "openai"}).kind == "openai"
    cfg = load_preset("cpu-demo", ["backend.kind=openai", "backend.hf={}", "backend.openai.concurrency=4"])
    assert cfg.backend.hf == HFBackendConfig() and cfg.backend.openai.concurrency == 4


def test_with_settings_puts_each_flat_keyword_where_it_lives():
    cfg = BackendConfig(model="m").with_settings(batch_size=3, base_url="http://x/v1", chat_template="on")
    assert (cfg.hf.batch_size, cfg.openai.base_url, cfg.chat_template) == (3, "http://x/v1", "on")
    base = BackendConfig(model="m")
    copy = base.with_settings(model="n")
    assert base.hf.batch_size == 8 and copy.hf is not base.hf and copy.openai is not base.openai   # shares nothing
    with pytest.raises(TypeError):
        BackendConfig().with_settings(batchsize=3)
    common = {f.name for f in dataclasses.fields(BackendConfig)}
    hf = {f.name for f in dataclasses.fields(HFBackendConfig)}
    oa = {f.name for f in dataclasses.fields(OpenAIBackendConfig)}
    assert not (common & hf or common & oa or hf & oa)   # one place per name: identity() and RENAMED rely on it


# ------------------------------------------------------------------ identity: unchanged by the split
# Computed at commit f2c80b8 (before the split), with the flat keys of then: /tmp scripts loaded the same settings
# and printed BackendConfig.identity(), evals.runner.model_identity and the pipeline's eval stage keys.
# cpu-study's keys are those of its preset as changed after the split (FLenQA's items, training micro-batches):
# the keys of its study run's folders (runs/cpu-study/eval/base-81618b59c95e).
FLAT_KEYS = ["kind", "model", "chat_template", "system_prompt", "context_length", "batch_size", "precision", "device",
             "seed", "max_padding", "engine", "base_url", "tokenizer", "serve"]


@pytest.mark.parametrize("overrides, identity, cache_key", [
    (["backend.kind=openai", "backend.openai.base_url=http://127.0.0.1:8000/v1", "backend.chat_template='on'",
      "backend.openai.tokenizer=smollm2-135m-instruct", "backend.openai.concurrency=3",
      "backend.context_length=4096", "backend.system_prompt=Be brief."],
     ["openai", "m", "on", "Be brief.", 4096, 8, "auto", "auto", 0, 0.1, "continuous", "http://127.0.0.1:8000/v1",
      "smollm2-135m-instruct", None], "m#a393e89393b9"),
    (["backend.hf.batch_size=4", "backend.hf.precision=fp32", "backend.hf.device=cpu", "backend.hf.seed=7",
      "backend.hf.max_padding=0.25", "backend.hf.engine=static"],
     ["hf", "m", "auto", None, None, 4, "fp32", "cpu", 7, 0.25, "static", None, None, None], "m#7f080cdc5a3b"),
])
def test_identity_is_the_flat_record_of_before_the_split(overrides, identity, cache_key):
    cfg = _eval(*overrides)
    ident = cfg.backend.identity()
    assert list(ident) == FLAT_KEYS and list(ident.values()) == identity   # same keys, values and order
    assert model_identity(cfg) == cache_key


@pytest.mark.parametrize("preset, cache_key, stage_keys", [
    ("cpu-study", "smollm2-135m-instruct#5578ac47c4cc",
     {"base": "81618b59c95e", "mix-formats-s0": "5e1be4d31d7f", "mix-formats-s1": "4e6ffac5db7f",
      "mix-formats-s2": "17ed150c1a38"}),
    ("cpu-demo", "smollm2-135m-instruct#5578ac47c4cc", {"base": "016ad0f976ac", "kv-template-s0": "e4b21a2c19ec"}),
    ("gpt-3.5", "gpt-3.5-turbo-1106#5c220b5e4c33",
     {"base": "f78005c924e8", "mskv-template-s0": "2de7589e9d70", "mskv-template-s1": "6ab1a180dbd9",
      "mskv-no-template-s0": "20a8ba061a89", "mskv-no-template-s1": "2776784181c7"}),
])
def test_a_presets_eval_cache_key_and_stage_keys_are_those_of_before_the_split(preset, cache_key, stage_keys,
                                                                                tmp_path):
    from needlework.pipeline.plan import build_stages
    cfg = load_preset(preset)
    assert model_identity(cfg.eval_for(cfg.base_model(), "x")) == cache_key
    evals = {s.label: s.key for s in build_stages(cfg, Path(tmp_path)) if s.kind == "eval"}
    assert evals == stage_keys

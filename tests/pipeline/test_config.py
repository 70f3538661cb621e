"""Bad configs fail before any work, naming the setting; presets load and validate; keys chain correctly."""
from __future__ import annotations

import importlib

import pytest
import yaml

from needlework.config import ConfigError
from needlework.pipeline import load_preset, load_run_config, preset_names
from needlework.pipeline.plan import build_stages

from pipeline_helpers import mini_config


def _write(tmp_path, data) -> str:
    p = tmp_path / "run.yaml"
    p.write_text(yaml.safe_dump(data))
    return str(p)


@pytest.mark.parametrize("change, named", [
    ({"train": {"lrr": 1e-4}}, "lrr"),
    ({"eval": {"kv_retrieval": {"positionz": [1]}}}, "positionz"),
    ({"backend": {"kindd": "hf"}}, "kindd"),
    ({"data": {"params": {"num_dicts": 3}}}, "num_dicts"),
    ({"bogus": 1}, "bogus"),
    ({"data": {"seed": 3}}, "data.seed"),
    ({"train": {"out": "x"}}, "train.out"),
    ({"eval": {"model": "x"}}, "eval.model"),
    ({"arms": {"other": {"params": {"num_dict": 0}}}}, "num_dict"),
    ({"train": {"lr": -1.0}}, "lr"),
    ({"eval": {"benchmarks": ["nope"]}}, "nope"),
    ({"report": {"effective_length_threshold": 1.5}}, "effective_length_threshold"),
    ({"eval": {"kv_retrieval": {"num_dicts": [6, 12], "positions": [1, 8]}}}, "kv_retrieval.positions"),
    ({"arms": {"other": {"train": {"lrr": 1e-4}}}}, "lrr"),
    ({"arms": {"other": {"train": {"seed": 3}}}}, "arms.other.train.seed"),
    ({"arms": {"other": {"train": {"early_stop": {"enabled": True, "metric": "mdqa-probe"}}}}}, "MDQA probe"),
])
def test_invalid_config_names_the_key(tmp_path, tiny_model_dir, change, named, monkeypatch):
    run_mod = importlib.import_module("needlework.pipeline.run")
    monkeypatch.setattr(run_mod, "build_stages", lambda *a: pytest.fail("work started before validation"))
    data = mini_config(tiny_model_dir, tmp_path / "runs")
    from needlework.config import deep_update
    deep_update(data, change)
    with pytest.raises(ConfigError, match=named):
        load_run_config(_write(tmp_path, data))
    assert not (tmp_path / "runs").exists()


def test_cli_rejects_before_work(tmp_path, tiny_model_dir, capsys):
    from needlework.cli import main
    data = mini_config(tiny_model_dir, tmp_path / "runs")
    data["train"]["epochz"] = 2
    assert main(["run", _write(tmp_path, data)]) == 2
    assert "epochz" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_presets_load_and_validate():
    names = preset_names()
    assert {"cpu-demo", "mistral-7b", "gpt-3.5", "mistral-7b-v0.2-24k"} <= set(names)
    for name in names:
        cfg = load_preset(name)
        assert cfg.name == name
    m = load_preset("mistral-7b")
    assert m.seeds == [0, 1, 2] and m.data.n == 350 and m.train.recipe == "paper"
    g = load_preset("gpt-3.5")
    assert g.data.task == "multi_subkey_kv" and g.train.backend == "openai" and g.backend.kind == "openai"
    with pytest.raises(ConfigError, match="unknown preset"):
        load_preset("nope")


def test_keys_chain_only_downstream(mini, tmp_path):
    a = {(s.kind, s.label): s.key for s in build_stages(mini(), tmp_path)}
    b = {(s.kind, s.label): s.key for s in build_stages(mini(**{"eval.kv_retrieval.n": 4}), tmp_path)}
    c = {(s.kind, s.label): s.key for s in build_stages(mini(**{"train.lr": 2e-3}), tmp_path)}
    d = {(s.kind, s.label): s.key for s in build_stages(mini(**{"train.progress": True}), tmp_path)}
    changed_b = {k[0] for k in a if a[k] != b[k]}
    changed_c = {k for k in a if a[k] != c[k]}
    assert changed_b == {"eval"}
    assert ("generate", "kv-s0") not in changed_c and ("train", "kv-s0") in changed_c
    assert ("eval", "base") not in changed_c and ("eval", "kv-s0") in changed_c
    assert a == d   # bookkeeping settings change no key


def test_dry_run_plan(mini, capsys):
    from needlework.pipeline import plan_text
    text = plan_text(mini(seeds=[0, 1]))
    for word in ("generate", "train", "eval", "report", "kv-s1", "todo", "tokens", "kv-retrieval"):
        assert word in text
    assert "estimated time" in text


def test_exponent_without_a_dot_is_a_number():
    # YAML 1.1 reads `3e-4` as a string; `lr=3e-4` on the command line must still mean 0.0003.
    from needlework.config import load_config
    from needlework.train import TrainConfig
    assert load_config(TrainConfig, None, ["data=[x.jsonl]", "lr=3e-4"]).lr == 3e-4
    with pytest.raises(ConfigError, match="lr"):
        load_config(TrainConfig, None, ["data=[x.jsonl]", "lr=3e-4x"])


def test_backend_is_typed_once_and_serves_the_evaluated_model(tmp_path, tiny_model_dir):
    """`backend` loads into a BackendConfig (overrides as before); each evaluation's backend names that
    evaluation's model unless the section names a served alias; a preset mapping is never changed by loading."""
    from needlework.backends import BackendConfig
    base = mini_config(tiny_model_dir, tmp_path / "runs")
    before = yaml.safe_dump(base)
    cfg = load_run_config(base=base, overrides=["precision=bf16", "backend.hf.batch_size=2"])
    assert yaml.safe_dump(base) == before
    assert isinstance(cfg.backend, BackendConfig) and cfg.backend.hf.batch_size == 2
    assert cfg.backend.model == ""
    ev = cfg.eval_for("some/folder", "out")
    assert isinstance(ev.backend, BackendConfig) and ev.backend.model == "some/folder"
    assert ev.backend.hf.precision == "bf16"
    assert cfg.backend.model == ""            # the run's section is not changed by an evaluation
    served = load_run_config(base=base, overrides=["backend.model=alias"]).eval_for("some/folder", "out")
    assert served.backend.model == "alias"
    with pytest.raises(ConfigError, match="backend.hf.batch_size"):
        load_run_config(base=base, overrides=["backend.hf.batch_size=0"])


def test_one_precision_and_device_reach_every_stage(tmp_path, tiny_model_dir):
    """The run's `precision` and `device` are handed to training, every evaluation's backend (general's hf
    model reads it too) and the loss map; setting them per stage, or by their old names, is refused by name."""
    base = mini_config(tiny_model_dir, tmp_path / "runs")
    cfg = load_run_config(base=base, overrides=["precision=bf16", "device=cpu"])
    t = cfg.train_for(["x.jsonl"], 0, "out", cfg.arm)
    ev = cfg.eval_for("m", "out")
    assert (t.precision, t.device) == (ev.backend.hf.precision, ev.backend.hf.device) == ("bf16", "cpu")
    loss_maps = [s for s in build_stages(cfg, tmp_path) if s.kind == "loss-map"]
    assert loss_maps and all(s.identity["loss_map"]["precision"] == "bf16" and s.identity["loss_map"]["device"]
                             == "cpu" for s in loss_maps)   # the loss map's settings, in its stage key
    for key, new in (("train.bf16=false", "precision"), ("backend.dtype=fp32", "precision"),
                     ("train.precision=fp32", "precision"), ("backend.device=cpu", "device"),
                     ("backend.hf.device=cpu", "device"), ("backend.hf.precision=bf16", "precision"),
                     ("eval.general.device=cuda", "device")):
        with pytest.raises(ConfigError, match=rf"{key.split('=')[0]}.*top-level `{new}`"):
            load_run_config(base=base, overrides=[key])
    with pytest.raises(ConfigError, match="device must be auto, cpu or cuda"):
        load_run_config(base=base, overrides=["device=tpu"])


def test_an_arm_changes_its_own_training_settings_only(mini, tmp_path):
    """A list of arms is a sweep: an arm's `train` overrides reach its own training stage (and its key), the
    other arms and the base evaluation are untouched, and its data is the shared data."""
    cfg = mini(**{"arms.slow": {"train": {"lr": 1e-4, "early_stop": {"every": 2}}}})
    assert cfg.train_for(["d"], 0, "o", "slow").lr == 1e-4
    assert cfg.train_for(["d"], 0, "o", "slow").early_stop.every == 2
    assert cfg.train_for(["d"], 0, "o", "kv").lr == cfg.train.lr
    assert cfg.data_for("slow", 0) == cfg.data_for("kv", 0)
    keys = {(s.kind, s.label): s.key for s in build_stages(cfg, tmp_path)}
    assert keys[("train", "slow-s0")] != keys[("train", "kv-s0")]
    assert keys[("generate", "slow-s0")] == keys[("generate", "kv-s0")]
    plain = {(s.kind, s.label): s.key for s in build_stages(mini(), tmp_path)}
    assert keys[("train", "kv-s0")] == plain[("train", "kv-s0")] and keys[("eval", "base")] == plain[("eval", "base")]


def test_the_probe_renders_prompts_as_the_evaluation_backend_does(mini):
    cfg = mini(**{"backend.system_prompt": "Be brief.", "backend.chat_template": "on"})
    probe = cfg.train_for(["d"], 0, "o").mdqa_probe
    assert probe.system_prompt == "Be brief." and probe.chat_template == "on"


def test_the_probe_lays_out_mdqa_as_the_benchmark_unless_told_otherwise(mini):
    """A preset states MDQA's documents and gold positions once (eval.mdqa); the probe takes them from there, and
    a probe setting given explicitly stays as given."""
    cfg = mini(**{"eval.mdqa.k": 5, "eval.mdqa.positions": [1, 3, 5]})
    probe = cfg.train_for(["d"], 0, "o").mdqa_probe
    assert (probe.k, probe.positions) == (5, [1, 3, 5])
    told = mini(**{"eval.mdqa.k": 5, "train.mdqa_probe.k": 7,
                   "train.mdqa_probe.positions": [7]}).train_for(["d"], 0, "o").mdqa_probe
    assert (told.k, told.positions) == (7, [7])
    alone = mini(**{"eval.benchmarks": ["kv-retrieval"]}).train_for(["d"], 0, "o").mdqa_probe.resolved()
    assert (alone.k, alone.positions) == (10, [1, 5, 10])


@pytest.mark.parametrize("override, starts", [("eval.kv_retrieval.max_new_tokens=0", "eval.kv_retrieval.max_new_tokens"),
                                              ("train.lora.r=0", "train.lora.r"),
                                              ("data.params.num_dict=0", "data: num_dict")])
def test_a_run_names_a_section_setting_by_its_full_path(override, starts):
    with pytest.raises(ConfigError) as e:
        load_preset("cpu-demo", [override, "train.params=lora"])
    assert str(e.value).startswith(starts), str(e.value)

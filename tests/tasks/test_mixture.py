"""Training-data mixtures: determinism (shards == serial), weights, provenance, the run config, bad settings."""
import json
import subprocess
import sys

import pytest

from needlework.config import ConfigError, from_dict, load_config
from needlework.tasks import mixture
from needlework.tasks.files.dataset import GenerateConfig, SampleMaker, generate_file
from needlework.tasks.files.file_check import validate_file

TWO = [{"task": "simple_kv", "weight": 3}, {"task": "multi_subkey_kv", "weight": 1, "params": {"num_dict": 3}}]


def _cfg(tmp_path, name="mix.jsonl", **kw) -> GenerateConfig:
    data = {"task": "mixture", "n": 30, "out": str(tmp_path / name), "params": {"num_dict": 4}, "mixture": TWO, **kw}
    cfg = from_dict(GenerateConfig, data)
    cfg.validate()
    return cfg


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_mixture_shards_concatenate_to_the_serial_file(tmp_path):
    serial = generate_file(_cfg(tmp_path), progress=False)
    (tmp_path / "mix.yaml").write_text(json.dumps({"task": "mixture", "n": 30, "params": {"num_dict": 4},
                                                   "mixture": TWO}))
    parts = []
    for k in range(3):   # separate processes, as a user would run them
        out = tmp_path / f"part{k}.jsonl"
        subprocess.run([sys.executable, "-m", "needlework.cli", "generate", "--config", str(tmp_path / "mix.yaml"),
                        "--out", str(out), "--shard", f"{k}/3", "-q"], check=True)
        parts.append(out.read_bytes())
    assert b"".join(parts) == serial.read_bytes()
    rows = _rows(serial)
    assert {r["meta"]["task"] for r in rows} == {"simple_kv", "multi_subkey_kv"}
    assert validate_file(str(serial)).error is None   # every row passes its own task's invariants


def test_sample_i_depends_only_on_seed_and_i(tmp_path):
    short = SampleMaker(_cfg(tmp_path, n=10))
    long = SampleMaker(_cfg(tmp_path, n=40))
    for i in range(10):   # the first samples of a longer file are the same samples
        a, b = short.sample(i), long.sample(i)
        assert (a.prompt, a.answer, a.meta["component"]) == (b.prompt, b.answer, b.meta["component"])
    other = SampleMaker(_cfg(tmp_path, n=10, seed=1))
    assert [other.sample(i).prompt for i in range(10)] != [short.sample(i).prompt for i in range(10)]


def test_a_component_is_a_prefix_of_its_pure_task_on_its_own_seed(tmp_path):
    cfg = _cfg(tmp_path)
    gen = SampleMaker(cfg)
    mine = [gen.sample(i) for i in range(cfg.n) if gen.sample(i).meta["component"] == "multi_subkey_kv"]
    pure = SampleMaker(GenerateConfig(task="multi_subkey_kv", n=len(mine), seed=mixture.component_seed(0, 1),
                                      params={"num_dict": 3}))
    assert [s.prompt for s in mine] == [pure.sample(i).prompt for i in range(len(mine))]


def test_weights_are_respected_over_many_samples():
    comps = [mixture.MixComponent(task="simple_kv", weight=w) for w in (5, 3, 2)]
    n = 20000
    comp, rank = mixture.choices(7, n, comps)
    shares = [float((comp == k).mean()) for k in range(3)]
    assert shares == pytest.approx([0.5, 0.3, 0.2], abs=0.015)   # about 4 standard errors at n = 20,000
    for k in range(3):   # each component's samples are its 0, 1, 2, ... in file order
        assert rank[comp == k].tolist() == list(range(int((comp == k).sum())))


def test_two_components_of_one_task_draw_different_samples(tmp_path):
    cfg = _cfg(tmp_path, mixture=[{"task": "simple_kv", "name": "a"}, {"task": "simple_kv", "name": "b",
                                                                        "params": {"template": False}}])
    gen = SampleMaker(cfg)
    keys = {c: [s.meta["gold_key"] for s in (gen.sample(i) for i in range(cfg.n)) if s.meta["component"] == c]
            for c in ("a", "b")}
    assert keys["a"] and keys["b"] and keys["a"][:3] != keys["b"][:3]


def test_provenance_records_the_mixture(tmp_path):
    out = generate_file(_cfg(tmp_path), progress=False)
    prov = json.loads((tmp_path / "mix.jsonl.provenance.json").read_text())
    card = prov["mixture"]
    assert [c["name"] for c in card] == ["simple_kv", "multi_subkey_kv"]
    assert [c["weight"] for c in card] == [3.0, 1.0] and [c["share"] for c in card] == [0.75, 0.25]
    counts = {c["name"]: c["samples"] for c in card}
    rows = _rows(out)
    assert counts == {name: sum(r["meta"]["component"] == name for r in rows) for name in counts}
    assert card[0]["params"]["num_dict"] == 4 and card[1]["params"]["num_dict"] == 3   # shared, then own
    assert prov["config"]["mixture"][1]["task"] == "multi_subkey_kv"
    assert {r["meta"]["config_hash"] for r in rows} == {prov["data_hash"]}


def test_a_users_chat_jsonl_mixes_in(tmp_path):
    sft = tmp_path / "sft.jsonl"
    sft.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                                    {"role": "assistant", "content": f"a{i}"}]}) + "\n"
                           for i in range(40)))
    cfg = _cfg(tmp_path, mixture=[{"task": "simple_kv"},
                                  {"task": "released_qa", "name": "sft", "params": {"format": "in2",
                                                                                     "path": str(sft)}}])
    rows = _rows(generate_file(cfg, progress=False))
    chat = [r for r in rows if r["meta"]["component"] == "sft"]
    assert chat and all(r["messages"][0]["content"].startswith("q") for r in chat)
    assert len({r["messages"][0]["content"] for r in chat}) == len(chat)   # records are not repeated


def test_a_file_component_smaller_than_its_share_is_rejected(tmp_path):
    sft = tmp_path / "sft.jsonl"
    sft.write_text(json.dumps({"messages": [{"role": "user", "content": "q"},
                                            {"role": "assistant", "content": "a"}]}) + "\n")
    cfg = _cfg(tmp_path, mixture=[{"task": "simple_kv"},
                                  {"task": "released_qa", "params": {"format": "in2", "path": str(sft)}}])
    with pytest.raises(ConfigError, match=r"mixture\[1\].*only 1 records fit"):
        SampleMaker(cfg)


@pytest.mark.parametrize("change, message", [
    ({"mixture": []}, r"mixture: task is 'mixture' but no components"),
    ({"mixture": [{"task": "no_such_task"}]}, r"mixture\[0\]\.task: unknown task 'no_such_task'"),
    ({"mixture": [{"task": "simple_kv", "weight": 0}]}, r"mixture\[0\]\.weight must be a positive number"),
    ({"mixture": [{"task": "simple_kv"}, {"task": "niah", "weight": -1}]}, r"mixture\[1\]\.weight"),
    ({"mixture": [{"task": "mixture"}]}, r"mixture\[0\]\.task: a mixture cannot contain a mixture"),
    ({"mixture": [{"task": "simple_kv"}, {"task": "simple_kv"}]}, None),   # numbered names: allowed
    ({"mixture": [{"task": "simple_kv", "name": "x"}, {"task": "niah", "name": "x"}]}, r"names repeat"),
    ({"params": {"no_such_setting": 1}}, r"params\.no_such_setting: no component of the mixture"),
    ({"mixture": [{"task": "simple_kv", "params": {"num_dict": 0}}]}, r"mixture\[0\] \(simple_kv\): num_dict"),
    ({"task": "simple_kv"}, r"mixture is set but task is 'simple_kv'"),
])
def test_bad_mixtures_are_rejected_up_front_naming_the_setting(tmp_path, change, message):
    data = {"task": "mixture", "n": 10, "params": {"num_dict": 4}, "mixture": TWO, **change}
    if message is None:
        from_dict(GenerateConfig, data).validate()
        return
    with pytest.raises(ConfigError, match=message):
        load_config(GenerateConfig, base=data)


def test_run_config_trains_on_a_mixture_and_records_its_families():
    from needlework.pipeline.config import load_run_config
    from needlework.pipeline.plan import trained_tasks
    cfg = load_run_config(base={"data": {"task": "mixture", "n": 16, "params": {"num_dict": 4}, "mixture": TWO},
                                "arms": {"kv-only": {"task": "simple_kv"}},
                                "eval": {"benchmarks": ["kv-retrieval"]}})
    assert trained_tasks(cfg.data_for(cfg.arm, 0)) == ["multi_subkey_kv", "simple_kv"]
    only = cfg.data_for("kv-only", 0)   # an arm that changes the task drops the mixture's components
    assert only.mixture == [] and trained_tasks(only) == ["simple_kv"]
    with pytest.raises(ConfigError, match=r"mixture\[0\]\.weight"):
        load_run_config(base={"data": {"task": "mixture", "mixture": [{"task": "simple_kv", "weight": -2}]}})

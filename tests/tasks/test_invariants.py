"""Property-based tests: every invariant of both KV tasks holds over random configs and seeds."""
import dataclasses

import pytest

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from needlework.config import ConfigError
from needlework.tasks import generate_sample, get_task
from needlework.tasks.files.formats import to_row
from needlework.tasks.files.file_check import check_row
from needlework.tasks.numbers import space_size


@st.composite
def simple_configs(draw):
    l_min = draw(st.integers(1, 4))
    l_max = draw(st.integers(l_min, 5))
    r_min = draw(st.integers(1, 4))
    r_max = draw(st.integers(r_min, 5))
    num_dict = draw(st.integers(1, 30))
    if space_size(r_min, r_max) < num_dict * l_max:
        num_dict = max(1, space_size(r_min, r_max) // l_max)
    pos = draw(st.one_of(st.just("uniform"), st.integers(1, num_dict)))
    return get_task("simple_kv").config_cls(
        num_dict=num_dict, dict_len=(l_min, l_max), digits=(r_min, r_max), template=draw(st.booleans()),
        gold_position=pos, gold_dict_len=draw(st.one_of(st.none(), st.integers(1, 5))),
        position_bias=draw(st.booleans()) if pos == "uniform" else False)


@st.composite
def multi_configs(draw):
    n_keys = draw(st.integers(1, 4))
    l_min = draw(st.integers(1, 3))
    l_max = draw(st.integers(l_min, 4))
    r_min = draw(st.integers(2, 3))
    r_max = draw(st.integers(r_min, 4))
    n_common = draw(st.integers(0, n_keys - 1))
    k_min = draw(st.integers(n_common + 1, 5))
    return get_task("multi_subkey_kv").config_cls(
        num_dict=draw(st.integers(1, 12)), dict_len=(l_min, l_max), digits=(r_min, r_max), n_keys=n_keys,
        n_common=n_common, p_share=draw(st.floats(0, 1)), template=draw(st.booleans()),
        question_order=draw(st.sampled_from(["shuffle", "differ"])),
        other_key_len=draw(st.one_of(st.none(), st.tuples(st.just(k_min), st.integers(k_min, 5)))))


def _check(task_name, cfg, seed, index):
    try:
        cfg.validate()
    except ConfigError:
        reject()   # impossible settings are covered by test_config_validation_messages_name_the_setting
    s = generate_sample(get_task(task_name), cfg, seed, index)
    assert check_row(to_row(s, "messages")) == task_name
    assert 1 <= s.meta["gold_dict"] == int(s.answer.rsplit("[", 1)[1].rstrip("].")) <= s.meta["num_dict"]
    assert 0.0 <= s.meta["depth"] < 1.0
    if isinstance(cfg.gold_position, int):
        assert s.meta["gold_dict"] == cfg.gold_position
    # determinism: (config, seed, index) -> identical sample
    assert generate_sample(get_task(task_name), cfg, seed, index) == s
    return s


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=simple_configs(), seed=st.integers(0, 2**32 - 1), index=st.integers(0, 10**6))
def test_simple_kv_invariants(cfg, seed, index):
    s = _check("simple_kv", cfg, seed, index)
    if cfg.gold_dict_len is not None:
        gold_line = s.prompt.split("\n")[1 + s.meta["gold_dict"]]
        assert gold_line.count(": ") == cfg.gold_dict_len


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=multi_configs(), seed=st.integers(0, 2**32 - 1), index=st.integers(0, 10**6))
def test_multi_subkey_invariants(cfg, seed, index):
    s = _check("multi_subkey_kv", cfg, seed, index)
    gold = set(s.meta["gold_key"])
    assert len(gold) == cfg.n_keys and sorted(s.meta["question_subkeys"]) == sorted(gold)
    if cfg.n_keys > 1 and cfg.question_order == "differ":
        assert s.meta["question_subkeys"] != s.meta["gold_key"]
    from needlework.tasks.checks.kv import parse_kv_prompt
    lens = {len(k) for pairs in parse_kv_prompt(s.prompt, True).dicts for k, _ in pairs if set(k) != gold}
    lo, hi = cfg.other_key_len or (cfg.n_keys, cfg.n_keys)
    assert all(lo <= n <= hi for n in lens)


def test_multi_subkey_question_order_is_the_authors_uniform_shuffle():
    """The authors shuffle the gold key's subkeys uniformly: 1 in n_keys! questions keep the gold order
    (the paper: "not necessarily in order"); question_order='differ' never does."""
    task = get_task("multi_subkey_kv")
    cfg = task.config_cls(num_dict=4, n_keys=3)
    same = sum(s.meta["question_subkeys"] == s.meta["gold_key"]
               for s in (generate_sample(task, cfg, 0, i) for i in range(300)))
    assert 25 <= same <= 80          # expected 50 of 300 (1/6)
    differ = task.config_cls(num_dict=4, n_keys=3, question_order="differ")
    assert all(generate_sample(task, differ, 0, i).meta["question_subkeys"]
               != generate_sample(task, differ, 0, i).meta["gold_key"] for i in range(100))


def test_multi_subkey_other_key_lengths_as_in_figure_2():
    """Alg. 3: every key has n_keys subkeys; other_key_len=[3, 4] gives Fig. 2's 3- and 4-subkey keys."""
    from needlework.tasks.checks.kv import parse_kv_prompt
    task = get_task("multi_subkey_kv")
    for other, expected in ((None, {3}), ((3, 4), {3, 4})):
        cfg = task.config_cls(num_dict=49, n_keys=3, n_common=2, p_share=0.5, other_key_len=other)
        s = generate_sample(task, cfg, 0, 0)
        gold = tuple(s.meta["gold_key"])
        lens = {len(k) for pairs in parse_kv_prompt(s.prompt, True).dicts for k, _ in pairs if k != gold}
        assert lens == expected and len(gold) == 3
    with pytest.raises(ConfigError, match="other_key_len"):
        task.config_cls(n_keys=3, n_common=2, other_key_len=(2, 4)).validate()


def test_multi_subkey_sharing_happens_and_is_bounded():
    """With p_share=1 every other key reuses all n_common common subkeys, and never more."""
    task = get_task("multi_subkey_kv")
    cfg = task.config_cls(num_dict=10, n_keys=3, n_common=2, p_share=1.0)
    s = generate_sample(task, cfg, 0, 0)
    from needlework.tasks.checks.kv import parse_kv_prompt
    gold = set(s.meta["gold_key"])
    shares = [len(set(k) & gold) for pairs in parse_kv_prompt(s.prompt, True).dicts for k, _ in pairs
              if set(k) != gold]
    assert shares and all(n == 2 for n in shares)


def test_position_sweep_and_bias():
    from needlework.tasks.files.dataset import GenerateConfig, SampleMaker
    gen = SampleMaker(GenerateConfig(task="simple_kv", n=6, params={"num_dict": 20, "gold_position": [1, 10, 20]}))
    assert [gen.sample(i).meta["gold_dict"] for i in range(6)] == [1, 10, 20, 1, 10, 20]
    gen = SampleMaker(GenerateConfig(task="simple_kv", n=6, params={"num_dict": 21, "gold_depth": [0.0, 0.5, 1.0]}))
    assert [gen.sample(i).meta["gold_dict"] for i in range(3)] == [1, 11, 21]
    task = get_task("simple_kv")
    biased = task.config_cls(num_dict=85, position_bias=True)
    firsts = sum(generate_sample(task, biased, 0, i).meta["gold_dict"] == 1 for i in range(2000))
    # 5% forced first + 3% x 1/5 near-first + 92% x 1/85 uniform ~= 6.7%
    assert 0.045 < firsts / 2000 < 0.09


def test_gold_dict_len_default_is_the_authors_3():
    assert get_task("simple_kv").config_cls().gold_dict_len == 3
    assert dataclasses.asdict(get_task("simple_kv").config_cls())["digits"] == (3, 4)


def test_config_validation_messages_name_the_setting():
    import pytest
    simple = get_task("simple_kv").config_cls
    multi = get_task("multi_subkey_kv").config_cls
    cases = [
        (simple(num_dict=85, dict_len=(4, 4), digits=(1, 1)), "digits"),
        (simple(dict_len=(5, 3)), "dict_len"),
        (multi(n_keys=3, n_common=3), "n_common"),
        (multi(p_share=1.5), "p_share"),
        (simple(num_dict=10, gold_position=11), "gold_position"),
        (simple(num_dict=10, target_tokens=500), "target_tokens"),
        (simple(max_tokens=100, target_tokens=500), "max_tokens"),
        (simple(gold_depth=1.5), "gold_depth"),
    ]
    for cfg, word in cases:
        with pytest.raises(ConfigError, match=word):
            cfg.validate()


def test_every_task_validates_through_its_task_check(monkeypatch):
    """One way to attach a validator: every registered task has `Task.check`, and `check_row` calls exactly it."""
    from needlework.tasks import all_tasks
    from needlework.tasks.base import Invalid
    from needlework.tasks.registry import _REGISTRY
    assert [n for n, t in all_tasks().items() if t.check is None] == []
    task = get_task("simple_kv")
    row = to_row(generate_sample(task, task.config_cls(num_dict=3), 0, 0), "messages")
    assert check_row(row) == "simple_kv"

    def refuse(prompt, answer, meta):
        raise Invalid("refused by the registered check")
    monkeypatch.setitem(_REGISTRY, "simple_kv", dataclasses.replace(task, check=refuse))
    with pytest.raises(Invalid, match="refused by the registered check"):
        check_row(row)

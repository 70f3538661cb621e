"""formatted_kv and variable_tracking: every invariant holds over random configs and seeds (the validator
re-derives them from the prompt text alone), the validator catches broken rows, budgets are exact."""
from __future__ import annotations

import ast
import json
import re

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from needlework.config import ConfigError
from needlework.tasks import generate_sample, get_task
from needlework.tasks.base import Invalid
from needlework.tasks.files.file_check import check_row
from needlework.tasks.files.formats import to_row
from needlework.tasks.kv.key_value_formats import FORMATS

FKV, VT = get_task("formatted_kv"), get_task("variable_tracking")


@st.composite
def fkv_configs(draw):
    l_min = draw(st.integers(1, 4))
    n_queries = draw(st.integers(1, 4))
    num_dict = draw(st.integers(1, 15))
    pos = draw(st.one_of(st.just("uniform"), st.integers(1, num_dict)))
    spread = num_dict >= n_queries and draw(st.booleans())
    return FKV.config_cls(
        num_dict=num_dict, dict_len=(l_min, draw(st.integers(l_min, 5))), digits=(draw(st.integers(2, 3)), 4),
        key_format=draw(st.sampled_from(FORMATS)), value_format=draw(st.sampled_from(FORMATS)),
        render=draw(st.sampled_from(["python", "json"])), n_queries=n_queries, n_values=draw(st.integers(1, 3)),
        template=draw(st.booleans()), gold_position=pos, query_spread=spread,
        gold_dict_len=draw(st.one_of(st.none(), st.integers(1 if spread else n_queries, 6))))


@st.composite
def vt_configs(draw):
    num_lines = draw(st.integers(0, 30))
    hops = draw(st.integers(1, 5))
    chains = draw(st.integers(1, 4))
    total = num_lines + chains * (hops + 1)
    place = draw(st.sampled_from(["uniform", "position", "depth"]))
    return VT.config_cls(
        num_lines=num_lines, hops=hops, num_chains=chains, question=draw(st.sampled_from(["value", "names"])),
        digits=(draw(st.integers(1, 5)), 5), template=draw(st.booleans()),
        gold_position=draw(st.integers(1, total - hops)) if place == "position" else "uniform",
        gold_depth=draw(st.floats(0, 1)) if place == "depth" else None)


def _sample(task, cfg, seed, index):
    try:
        cfg.validate()
    except ConfigError:
        reject()
    s = generate_sample(task, cfg, seed, index)
    assert check_row(to_row(s, "messages")) == task.name
    assert generate_sample(task, cfg, seed, index) == s   # (config, seed, index) -> the same sample
    assert task.score(s.meta, s.answer)[task.metrics[0]] == 1.0   # the target answer scores full marks
    return s


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=fkv_configs(), seed=st.integers(0, 2**32 - 1), index=st.integers(0, 10**6))
def test_formatted_kv_invariants(cfg, seed, index):
    s = _sample(FKV, cfg, seed, index)
    lines = s.prompt.split("\n\n")[1].split("\n")
    assert len(lines) == cfg.num_dict == s.meta["num_dict"]
    parse = json.loads if cfg.render == "json" else ast.literal_eval
    dicts = [parse(re.sub(r"^Dictionary \[\d+\] ", "", ln)) for ln in lines]   # every line is a real literal
    gold = dicts[s.meta["gold_dict"] - 1]
    assert s.meta["gold_dicts"][0] == s.meta["gold_dict"]
    if cfg.query_spread:   # each asked key in its own dictionary, the first at the position axis' place
        assert len(set(s.meta["gold_dicts"])) == cfg.n_queries
    else:
        assert set(s.meta["gold_dicts"]) == {s.meta["gold_dict"]}
    if isinstance(cfg.gold_position, int):
        assert s.meta["gold_dict"] == cfg.gold_position
    if cfg.gold_dict_len is not None:
        assert len(gold) == cfg.gold_dict_len
    # the question asks n_queries keys, and they are the gold dictionary's
    asked = s.meta["gold_keys"]
    assert len(asked) == cfg.n_queries
    key = (lambda k: str(k)) if cfg.render == "json" else (lambda k: k)
    assert [dicts[d - 1][key(k)] for k, d in zip(asked, s.meta["gold_dicts"])] == s.meta["gold_values"]
    assert all(len(v) == cfg.n_values for d in dicts for v in d.values()) if cfg.n_values > 1 else True
    # with the template, the answer fills the template's placeholders and nothing else changes
    if cfg.template:
        template = s.prompt.rsplit("\n", 1)[1]
        pattern = re.escape(template)
        for placeholder, fill in (("<fill-in-values>", ".+"), ("<fill-in-value>", ".+"),
                                  ("<fill-in-dictionary-name>", r"\d+")):
            pattern = pattern.replace(re.escape(placeholder), fill)
        assert re.fullmatch(pattern, s.answer)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=vt_configs(), seed=st.integers(0, 2**32 - 1), index=st.integers(0, 10**6))
def test_variable_tracking_invariants(cfg, seed, index):
    s = _sample(VT, cfg, seed, index)
    lines = s.prompt.split("\n\n")[1].split("\n")
    statements = [ln for ln in lines if ln.startswith("VAR ")]
    assert len(statements) == cfg.num_chains * (cfg.hops + 1)
    assert len(lines) - len(statements) == cfg.num_lines == s.meta["num_lines"]
    numbers = [ln for ln in statements if re.fullmatch(r"VAR [A-Z]{5} = \d+", ln)]
    assert len(numbers) == cfg.num_chains
    # following the asked chain forward from its number takes exactly `hops` steps
    first = s.meta["gold_line"]
    assert lines[first - 1] == f"VAR {s.meta['gold_chain'][0]} = {s.meta['gold_value']}"
    if isinstance(cfg.gold_position, int):
        assert first == cfg.gold_position
    if cfg.gold_depth is not None:
        assert first == 1 + round(cfg.gold_depth * (len(lines) - cfg.hops - 1))
    var, steps = s.meta["gold_chain"][0], 0
    while (nxt := [ln.split()[1] for ln in lines if ln.endswith(f"= VAR {var}")]):
        var, steps = nxt[0], steps + 1
    assert steps == cfg.hops and var == s.meta["gold_var"]
    assert s.meta["gold_var"] in s.answer if cfg.question == "value" else ", ".join(s.meta["gold_chain"]) in s.answer


def _row(task, **params):
    cfg = task.config_cls(**params)
    cfg.validate()
    return to_row(generate_sample(task, cfg, 7, 3), "prompt_completion")


@pytest.mark.parametrize("render", ["python", "json"])
def test_validator_catches_broken_formatted_kv_rows(render):
    row = _row(FKV, num_dict=6, n_queries=2, render=render, key_format="word", value_format="number")
    check_row(row)
    gold = row["meta"]["gold_values"][0]
    wrong = dict(row, completion=row["completion"].replace(str(gold), str(gold + 1)))
    with pytest.raises(Invalid, match="answer"):
        check_row(wrong)
    # a distractor dictionary given a gold value: the answer would no longer be unique
    lines = row["prompt"].split("\n")
    other = 3 if row["meta"]["gold_dict"] != 1 else 4
    lines[other] = re.sub(r": \d+", f": {gold}", lines[other], count=1)
    with pytest.raises(Invalid, match="gold value"):
        check_row(dict(row, prompt="\n".join(lines)))
    # a Python dict in a file whose question says JSON (or the reverse) is caught
    swapped = row["prompt"].replace("'", '"') if render == "python" else row["prompt"].replace('"', "'")
    with pytest.raises(Invalid):
        check_row(dict(row, prompt=swapped))


def test_spread_queries_need_their_own_dictionaries():
    row = _row(FKV, num_dict=8, n_queries=3, query_spread=True)
    check_row(row)
    assert len(set(row["meta"]["gold_dicts"])) == 3
    with pytest.raises(Invalid, match="all must sit in one"):   # the same keys asked as if in one dictionary
        check_row(dict(row, prompt=row["prompt"].replace("dictionary each is in", "dictionary they are in")))
    with pytest.raises(ConfigError, match="query_spread"):
        FKV.config_cls(num_dict=2, n_queries=3, query_spread=True).validate()
    with pytest.raises(ConfigError, match="query_spread"):
        FKV.config_cls(target_tokens=500, n_queries=2, query_spread=True).validate()


def test_validator_catches_broken_variable_tracking_rows():
    row = _row(VT, num_lines=10, hops=3, num_chains=2)
    check_row(row)
    chain = row["meta"]["gold_chain"]
    cut = row["prompt"].replace(f"VAR {chain[2]} = VAR {chain[1]}", f"VAR {chain[2]} = VAR ZZZZZ")
    with pytest.raises(Invalid, match="not assigned"):
        check_row(dict(row, prompt=cut))
    with pytest.raises(Invalid, match="meta hops"):
        check_row(dict(row, meta={**row["meta"], "hops": 2}))
    other = row["meta"]["distractor_values"][0]
    with pytest.raises(Invalid, match="answer"):
        check_row(dict(row, completion=f"The value of variable {chain[-1]} is {other}."))


def test_scores_read_free_text():
    meta = {"gold_values": [[8364, 12], [5]], "gold_dict": 4}
    score = FKV.score
    assert score(meta, "Key a: 8,364 and 12; key b: 5 (Dictionary [4])") == \
        {"value_acc": 1.0, "value_recall": 1.0, "value_dict_acc": 1.0}
    assert score(meta, "83645, 12 and 5 in dictionary 3")["value_recall"] == pytest.approx(2 / 3)
    words = {"gold_values": ["bakomi"], "gold_dict": 1}
    assert score(words, "It is 'Bakomi'.")["value_acc"] == 1.0 and score(words, "bakomiku")["value_acc"] == 0.0
    vt = {"question": "value", "gold_value": 28311, "distractor_values": [22063], "gold_chain": ["A"],
          "distractor_vars": []}
    assert VT.score(vt, "It is 28311.")["answer_acc"] == 1.0
    assert VT.score(vt, "28311 or 22063")["answer_acc"] == 0.0   # naming every value is not an answer
    names = {"question": "names", "gold_chain": ["ABCDE", "FGHIJ"], "distractor_vars": ["KLMNO"]}
    assert VT.score(names, "ABCDE, FGHIJ") == {"answer_acc": 1.0, "answer_recall": 1.0}
    assert VT.score(names, "ABCDE, KLMNO") == {"answer_acc": 0.0, "answer_recall": 0.5}


@pytest.mark.parametrize("task,params", [
    ("formatted_kv", {"key_format": "uuid", "value_format": "uuid", "render": "json", "target_tokens": 1500}),
    ("formatted_kv", {"n_queries": 2, "n_values": 2, "target_tokens": 900, "gold_depth": 1.0}),
    ("variable_tracking", {"target_tokens": 700, "hops": 3, "num_chains": 2, "gold_depth": 0.5}),
])
def test_target_tokens_fill_the_budget_exactly(task, params, smollm2_tokenizer_dir):
    from needlework.tasks.files.dataset import GenerateConfig, SampleMaker
    gen = SampleMaker(GenerateConfig(task=task, n=6, params=params, tokenizer=str(smollm2_tokenizer_dir),
                                     chat_template=True))
    budget = params["target_tokens"]
    for i in range(6):
        s = gen.sample(i)
        assert s.meta["n_tokens"] == gen.counter.full_count(s.prompt) <= budget
        check_row(to_row(s, "messages"))
        if task == "variable_tracking":   # the layout of n lines depends on (seed, index, n) only: one more
            fixed = {k: v for k, v in params.items() if k != "target_tokens"}   # noise line would not fit
            more = VT.config_cls(**fixed, num_lines=s.meta["num_lines"] + 1)
            assert generate_sample(VT, more, 0, i, gen.counter).meta["n_tokens"] > budget
            same = VT.config_cls(**fixed, num_lines=s.meta["num_lines"])
            assert generate_sample(VT, same, 0, i).prompt == s.prompt


def test_impossible_settings_name_the_setting():
    cases = [(FKV.config_cls(key_format="emoji"), "key_format"), (FKV.config_cls(render="yaml"), "render"),
             (FKV.config_cls(n_queries=3, gold_dict_len=2), "gold_dict_len"),
             (FKV.config_cls(key_format="number", digits=(1, 1), num_dict=10), "key_format"),
             (VT.config_cls(question="who"), "question"), (VT.config_cls(hops=0), "hops"),
             (VT.config_cls(num_lines=2, hops=3, gold_position=5), "gold_position"),
             (VT.config_cls(digits=(1, 1), num_chains=10), "digits"),
             (VT.config_cls(num_lines=5, target_tokens=500), "target_tokens")]
    for cfg, word in cases:
        with pytest.raises(ConfigError, match=word):
            cfg.validate()

"""`ruler-needles`: the three RULER kinds with real words, the hash split, determinism, a golden prompt per
kind, the reader (hedging is not retrieval) and the multi-key contrast."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from needlework.config import ConfigError
from needlework.evals.registry import get_benchmark
from needlework.evals.suite import vocab
from needlework.evals.suite.ruler_needles import RulerNeedlesConfig

GOLDEN = Path(__file__).parent / "golden"
B = get_benchmark("ruler-needles")
NEEDLE = re.compile(r'One of the special magic words for "([^"]+)" is: (\w+)\.')


def _content(item) -> str:
    return item.request.messages[0]["content"]


@pytest.fixture(scope="module")
def halves():
    return {sp: B.build(RulerNeedlesConfig(n=9, context_chars=600, split=sp), 0) for sp in ("dev", "eval")}


def test_kinds_and_needles(halves):
    items = halves["eval"]
    assert [it.axes["kind"] for it in items] == ["mk"] * 3 + ["mv"] * 3 + ["mq"] * 3
    for it in items:
        needles = NEEDLE.findall(_content(it))
        keys, values = [k for k, _ in needles], [v for _, v in needles]
        assert len(set(values)) == len(values) and not any(re.search(r"\d", v) for v in values)
        kind, gold = it.gold["kind"], it.gold["answers"]
        if kind == "mv":
            assert len(set(keys)) == 1 and sorted(gold) == sorted(values) and not it.gold["distractor_answers"]
        else:
            assert len(set(keys)) == len(keys) == 4 and len(gold) == (1 if kind == "mk" else 2)
            assert sorted(gold + it.gold["distractor_answers"]) == sorted(values)
        body = _content(it).split("\n\nQuestion: ")[0]
        for v in values:                     # each value appears once: in its needle, never in the essay text
            assert len(re.findall(rf"\b{v}\b", body, re.I)) == 1


def test_dev_and_eval_share_no_key_or_value(halves):
    def entries(items):
        return {x for it in items for pair in NEEDLE.findall(_content(it)) for x in pair}
    dev, ev = entries(halves["dev"]), entries(halves["eval"])
    assert dev and ev and not dev & ev
    assert {k for it in halves["dev"] for k, _ in NEEDLE.findall(_content(it))} <= set(vocab.titles("dev"))


def test_deterministic(halves):
    again = B.build(RulerNeedlesConfig(n=9, context_chars=600, split="dev"), 0)
    assert [(i.id, _content(i)) for i in again] == [(i.id, _content(i)) for i in halves["dev"]]


def test_prompts_match_golden():
    items = B.build(RulerNeedlesConfig(n=3, context_chars=400, split="eval", depths=[0.5]), 0)
    text = "\n=====\n".join(_content(it) for it in items)
    path = GOLDEN / "ruler-needles_seed0_400chars.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_bytes(text.encode("utf-8"))
    assert text == path.read_bytes().decode("utf-8")


def test_reader(halves):
    mk = halves["eval"][0]
    g, d = mk.gold["answers"][0], mk.gold["distractor_answers"][0]
    for right in (g, f"The magic word is {g}.", f"Answer: **{g.upper()}**", f"\n{g}"):
        assert B.score(mk, right)[1]["all_found"] == 1.0, right
    for wrong in (d, "", f"{g}, {d}", f"{g}s"):
        assert B.score(mk, wrong)[1]["all_found"] == 0.0, wrong
    mv = halves["eval"][3]
    vs = mv.gold["answers"]
    assert B.score(mv, ", ".join(vs))[1] == {"all_found": 1.0, "recall": 1.0}
    assert B.score(mv, f"{vs[0]}\n{vs[1]}\n{vs[2]}")[1]["all_found"] == 1.0
    assert B.score(mv, f"The magic words are:\n\n{', '.join(vs)}")[1]["all_found"] == 1.0
    assert B.score(mv, f"{vs[0]}, {vs[1]}\n\nAlso {vs[2]}")[1]["all_found"] == 0.0    # only its first paragraph
    assert B.score(mv, vs[0])[1] == {"all_found": 0.0, "recall": pytest.approx(1 / 3)}


def test_contrast_for_multi_key_only(halves):
    s = RulerNeedlesConfig(n=9, context_chars=600, split="eval")
    for it in halves["eval"]:
        c = B.contrast(s, it)
        if it.gold["kind"] != "mk":
            assert c is None
            continue
        g = it.gold["answers"][0]
        without = c.without_gold.messages[0]["content"]
        assert g not in without and len(NEEDLE.findall(without)) == 3
        assert NEEDLE.sub("", without).split() == [w for w in NEEDLE.sub("", _content(it)).split()]
        assert c.distractor_answers == tuple(it.gold["distractor_answers"])


def test_refusals():
    with pytest.raises(ConfigError, match="n_queries"):
        RulerNeedlesConfig(n_queries=5, n_keys=4).validate()
    with pytest.raises(ConfigError, match="ruler_needles.kind"):
        RulerNeedlesConfig(kind="mx").validate()


def test_a_short_haystack_still_holds_every_needle():
    """More needles than sentence gaps: some share a gap, none is lost."""
    for it in B.build(RulerNeedlesConfig(n=9, context_chars=200, n_keys=8, n_values=6, split="dev"), 0):
        want = 6 if it.gold["kind"] == "mv" else 8
        assert len(NEEDLE.findall(_content(it))) == want, it.id

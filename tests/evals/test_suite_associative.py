"""`associative-needle`: the authored association list (non-literal, no typos of form, enough countries per
half), the hash split, the haystack's source, determinism, the golden prompt, the contrast and the reader."""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest

from needlework.config import ConfigError
from needlework.evals.registry import get_benchmark
from needlework.real_data import load_essays
from needlework.evals.suite.associations import (FOLDER, QUESTION, content_words, literal_overlap,
                                                 load_associations, load_names)
from needlework.evals.suite.associative_needle import AssociativeNeedleConfig
from needlework.evals.suite.haystack import sentences
from needlework.evals.suite.split import split_of

GOLDEN = Path(__file__).parent / "golden"
B = get_benchmark("associative-needle")


def _content(item) -> str:
    return item.request.messages[0]["content"]


def test_association_list_is_clean_and_non_literal():
    pairs, names = load_associations(), load_names()
    assert 60 <= len(pairs) <= 100 and len(names) >= 20
    assert len({a.cue.lower() for a in pairs}) == len(pairs)                 # no cue twice
    for a in pairs:
        assert re.fullmatch(r"[A-Za-z][A-Za-z' \-]*[a-z]", a.cue), a.cue      # no stray spaces, digits, tabs
        assert re.fullmatch(r"(the )?[A-Z][a-z]+( [A-Z][a-z]+)*", a.place), a.place
        for n in names:
            assert not literal_overlap(a, n), (a, n)
            assert not content_words(n) & content_words(a.question), (a, n)
    assert all(re.fullmatch(r"[A-Z][a-z]+", n) for n in names)
    # the associations the task stands on, spelled as the model knows them
    known = {(a.cue, a.place) for a in pairs}
    assert {("the Eiffel Tower", "France"), ("the Colosseum", "Italy"), ("sushi", "Japan"),
            ("the Taj Mahal", "India"), ("paella", "Spain")} <= known
    assert (FOLDER / "LICENSE").read_text().count("MIT License") == 1


def test_no_name_is_a_place_or_cue():
    """A character called Milan asked about Italy would be a literal hint."""
    words = {w for a in load_associations() for w in content_words(a.cue + " " + a.place)}
    assert not {n.lower() for n in load_names()} & words
    assert not {n.lower() for n in load_names()} & {"milan", "paris", "sydney", "georgia", "florence", "china"}


@pytest.fixture(scope="module")
def halves():
    return {sp: B.build(AssociativeNeedleConfig(n=12, context_chars=600, split=sp), 0) for sp in ("dev", "eval")}


def test_dev_and_eval_ask_disjoint_associations(halves):
    pairs = load_associations()
    cues = {sp: {it.gold["cue"] for it in items} for sp, items in halves.items()}
    assert cues["dev"] and cues["eval"] and not cues["dev"] & cues["eval"]
    for sp, items in halves.items():
        for it in items:
            assert split_of(it.gold["cue"], "associative-needle") == sp
            for a in pairs:                           # every needle in the text is from its own half
                if f" {a.cue} " in _content(it) or f" {a.cue}." in _content(it):
                    assert split_of(a.cue, "associative-needle") == sp, (it.id, a.cue)
    # each half has enough countries for the default two distractors
    for sp in ("dev", "eval"):
        assert len({a.place for a in pairs if split_of(a.cue, "associative-needle") == sp}) >= 10


def test_needles_and_haystack(halves):
    names = set(load_names())
    padding = {s for _, s in sentences(tuple(sorted(names)))}
    essays_trained_on = " ".join(load_essays(part="haystack").split())
    for it in halves["eval"]:
        text = _content(it).split("\n\n", 1)[1].rsplit("\n\nQuestion: ", 1)[0]
        assert it.gold["needle"] in text
        gold, others = it.gold["answers"][0], it.gold["distractor_answers"]
        assert len(others) == 2 and gold not in others
        mentioned = [n for n in names if re.search(rf"\b{n}\b", text)]
        assert sorted(mentioned) == sorted([gold, *others])            # only the needles name characters
        q = it.gold["question"]
        assert not content_words(it.gold["needle"]) & content_words(q)
        assert any(q == t.format(place=it.gold["place"]) for t in QUESTION.values())
        stripped = text
        for n in [it.gold["needle"], *re.findall(r"(?:%s) [^.]*\." % "|".join(others), text)]:
            stripped = stripped.replace(n, "")
        first = max(re.split(r"(?<=[.!?]) ", stripped.strip()), key=len).strip()   # its longest sentence
        assert any(first[:40] in s for s in padding), first        # the haystack is padding-half essay text,
        assert first[:40] not in essays_trained_on                   # never the half NIAH training reads


def test_deterministic_and_depths(halves):
    again = B.build(AssociativeNeedleConfig(n=12, context_chars=600, split="dev"), 0)
    assert [(i.id, _content(i)) for i in again] == [(i.id, _content(i)) for i in halves["dev"]]
    assert [it.axes["depth"] for it in halves["dev"][:3]] == [0.0, 0.5, 1.0]
    first = halves["dev"][0]
    body = _content(first).split("\n\n", 1)[1]
    assert body.startswith(first.gold["needle"])                  # depth 0: before the first sentence
    last = halves["dev"][2]
    assert _content(last).split("\n\nQuestion: ")[0].endswith(last.gold["needle"])
    assert Counter(it.gold["cue"] for it in halves["dev"]).most_common(1)[0][1] == 1   # permutation, no repeats


def test_prompt_matches_golden():
    item = B.build(AssociativeNeedleConfig(n=2, context_chars=500, split="eval"), 0)[1]
    text = _content(item)
    path = GOLDEN / "associative-needle_seed0_500chars.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_bytes(text.encode("utf-8"))
    assert text == path.read_bytes().decode("utf-8")


def test_contrast_drops_exactly_the_gold_needle(halves):
    s = AssociativeNeedleConfig(n=12, context_chars=600, split="eval")
    for it in halves["eval"]:
        c = B.contrast(s, it)
        without = c.without_gold.messages[0]["content"]
        assert it.gold["needle"] not in without
        assert without == _content(it).replace(it.gold["needle"] + " ", "", 1) or \
            without == _content(it).replace(" " + it.gold["needle"], "", 1) or \
            without == _content(it).replace(it.gold["needle"], "", 1)
        assert c.answer == it.gold["answers"][0] and c.distractor_answers == tuple(it.gold["distractor_answers"])


def test_reader_names_the_character_and_no_other(halves):
    it = halves["eval"][0]
    gold, other = it.gold["answers"][0], it.gold["distractor_answers"][0]
    for right in (gold, f"{gold}.", f"The character is {gold}.", f"{gold.lower()}", f"Answer: **{gold}**"):
        assert B.score(it, right)[1] == {"answer_em": 1.0}, right
    for wrong in (other, "", f"{gold} or {other}", f"{other}, not {gold}", "I don't know"):
        assert B.score(it, wrong)[1] == {"answer_em": 0.0}, wrong


def test_refusals():
    with pytest.raises(ConfigError, match="associative_needle.split"):
        AssociativeNeedleConfig(split="train").validate()
    with pytest.raises(ConfigError, match="countries"):
        B.build(AssociativeNeedleConfig(n=1, distractors=30), 0)

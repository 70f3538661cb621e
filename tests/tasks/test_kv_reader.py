"""The kv answer reader is fair to every model: a corpus of real-looking answers (the bundled models' own
outputs and hand-written phrasings in the styles chat models answer in, right and wrong) with the reading a
person would give each, the failure cases of the first reader, and the strict template-exact reading."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from needlework.tasks.kv import answers as kv_answers

CORPUS = [json.loads(line) for line in (Path(__file__).parent / "fixtures" / "kv_answer_corpus.jsonl").open()]


def test_the_corpus_is_large_and_varied():
    assert len(CORPUS) >= 60
    sources = {c["source"].split(",")[0] for c in CORPUS}
    assert {"hand-written", "SmolLM2-135M-Instruct", "Gemma-3-270M (base)"} <= sources
    right = [c for c in CORPUS if c["expect"]["value"] == c["meta"]["gold_value"]]
    assert 15 <= len(right) <= len(CORPUS) - 15          # right and wrong answers both


@pytest.mark.parametrize("case", CORPUS, ids=[f"{i}:{c['text'][:40]}" for i, c in enumerate(CORPUS)])
def test_corpus_reading(case):
    got = kv_answers.read(case["meta"], case["text"])
    assert {k: got[k] for k in case["expect"]} == case["expect"]


SIMPLE = {"gold_key": 123, "gold_value": 4567, "gold_dict": 12}


@pytest.mark.parametrize("text", [
    "The value associated with key 123 is 4567 and it is in Dictionary [12].",
    "The value of key `123` is 4567 (Dictionary [12]).",
    "The value of key '123' is 4567 and it is in Dictionary [12].",
    "The value corresponding to key 123 is 4567 and it is in Dictionary [12].",
    "The value of key 123 is 4567 and it is in Dictionary **[12]**.",
    "The value of key 123 is 4567, dictionary: 12.",
])
def test_the_first_readers_failures_now_read_right(text):
    """Each of these scored 0 before: the asked key was read as the value, or the dictionary was missed."""
    assert kv_answers.score(SIMPLE, text)["value_dict_acc"] == 1.0


def test_a_decimal_is_not_cut_into_a_wrong_integer():
    assert kv_answers.read(SIMPLE, "The value of key 123 is 4567.0 and it is in Dictionary [12].")["value"] == 4567
    assert kv_answers.read({**SIMPLE, "gold_value": 456}, "The value of key 123 is 456.7.")["value"] == 456.7
    assert kv_answers.score({**SIMPLE, "gold_value": 456}, "The value of key 123 is 456.7.")["value_acc"] == 0.0


def test_multi_subkey_never_reads_a_subkey_as_the_value():
    meta = {"gold_key": [616, 23, 4], "question_subkeys": [23, 616, 4], "gold_value": 8901, "gold_dict": 5}
    text = "The value associated with the key containing 616, 23, 4 is 8901 and it is in Dictionary [5]."
    assert kv_answers.score(meta, text)["value_dict_acc"] == 1.0


def test_strict_reading_is_the_target_sentence_itself():
    target = "The value of key 123 is 4567 and it is in Dictionary [12]."
    assert kv_answers.target(SIMPLE) == target
    assert kv_answers.score(SIMPLE, target + "\n")["answer_exact"] == 1.0
    assert kv_answers.score(SIMPLE, "  " + target)["answer_exact"] == 1.0
    loose = kv_answers.score(SIMPLE, "The value of key 123 is **4567** (Dictionary [12]).")
    assert loose["value_dict_acc"] == 1.0 and loose["answer_exact"] == 0.0
    multi = {"gold_key": [1, 2, 3], "question_subkeys": [3, 1, 2], "gold_value": 9, "gold_dict": 4}
    assert kv_answers.target(multi) == ("The key that contains the integers 3, 1, 2 is (1, 2, 3). Its value is 9 "
                                        "and it is in Dictionary [4].")


def test_a_value_equal_to_its_key_is_read():
    meta = {"gold_key": 380, "gold_value": 380, "gold_dict": 1}
    assert kv_answers.score(meta, "The value of key 380 is 380 and it is in Dictionary [1].")["value_dict_acc"] == 1.0

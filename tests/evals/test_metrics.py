"""Scoring rules against hand-computed cases (REFERENCE §3, §4)."""
from __future__ import annotations

import math

import pytest

from needlework.tasks.kv.answers import parse_dict, parse_key, parse_value
from needlework.evals.metrics import (best_subspan_em, flenqa_answer, flenqa_correct,
                                      normalize_flenqa, normalize_squad, wilson)


@pytest.mark.parametrize("text,expected", [
    ("The Eiffel Tower!", "eiffel tower"),
    ("  A  cat, an apple; THE end.", "cat apple end"),
    ("theater", "theater"),                 # "the" inside a word stays
    ("U.S.A.", "usa"),
    ("Wilhelm Conrad Röntgen", "wilhelm conrad röntgen"),   # non-ASCII letters kept
])
def test_normalize_squad(text, expected):
    assert normalize_squad(text) == expected


@pytest.mark.parametrize("pred,answers,score", [
    ("The answer is Wilhelm Conrad Röntgen.", ["Wilhelm Conrad Röntgen"], 1.0),
    ("the  EIFFEL-tower", ["Eiffel Tower"], 0.0),        # hyphen is dropped, not spaced: "eiffeltower"
    ("The Eiffel Tower, in Paris", ["the eiffel tower"], 1.0),
    ("It is an apple", ["The Apple"], 1.0),              # articles removed on both sides
    ("Paris", ["Paris, France"], 0.0),                    # gold must be inside the prediction, not vice versa
    ("I think\nParis", ["Paris"], 0.0),                  # only the first line counts
    # A gold answer that normalises to nothing ("*") is matched unnormalised, as a whole token.
    ("The multiplication sign is *.", ["a rotationally symmetric saltire", "*"], 1.0),
    ("It is **x**", ["*"], 0.0),                         # part of a longer run of its own characters
    ("I do not know", ["*"], 0.0),                       # never matches everything (Liu et al.'s "" in pred)
    ("\nParis", ["Paris"], 0.0),
    ("Paris\nblah", ["London", "paris"], 1.0),           # any gold answer
    ("1,000 people", ["1000"], 1.0),                     # punctuation inside numbers dropped
    ("", ["a"], 0.0),                                    # an answer that normalises to "" never matches
])
def test_best_subspan_em(pred, answers, score):
    assert best_subspan_em(pred, answers) == score


@pytest.mark.parametrize("out,parsed", [
    ("True", "true"),
    ("False.", "false"),
    ("The statement is not true.", "false"),            # "not true" -> "false"
    ("It is not true that he is there... so the answer is True", "true"),   # last mention wins
    ("True? No: False", "false"),
    ("’true’", "true"),                                 # curly quotes stripped
    ("Answer: **FALSE**", "false"),
    ("I cannot answer that.", "other"),
    ("", "other"),
    ("Step 1: false premise. Step 2: ... Final answer: true", "true"),
])
def test_flenqa_answer(out, parsed):
    assert flenqa_answer(out) == parsed


def test_flenqa_correct_and_normalize():
    assert normalize_flenqa("The answer: ’True’!") == "answer true"
    assert flenqa_correct("not true", "False") == 1.0
    assert flenqa_correct("not true", "True") == 0.0
    assert flenqa_correct("refuse", "False") == 0.0     # other/refused counts wrong


def test_wilson_hand_computed():
    # k=8, n=10: p=.8, z=1.96 -> centre (0.8+0.19208)/1.38415 = 0.716740, half 0.236916 (worked by hand)
    lo, hi = wilson(8, 10)
    assert math.isclose(lo, 0.4902, abs_tol=1e-4) and math.isclose(hi, 0.9433, abs_tol=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(0, 20)
    assert lo == 0.0 and math.isclose(hi, 0.1611, abs_tol=1e-4)
    lo, hi = wilson(20, 20)
    assert hi == 1.0 and math.isclose(lo, 0.8389, abs_tol=1e-4)


@pytest.mark.parametrize("text,value,dict_", [
    ("The value of key 1234 is 5678 and it is in Dictionary [12].", 5678, 12),
    ("Sure! Here is the answer.\n\nThe value of key 1234 is **5678** and it is in Dictionary [12]. Hope this helps!",
     5678, 12),
    ("Key 1234 has value: 5678 (found in dictionary 12)", 5678, 12),
    ("In Dictionary [3], key 1234 maps to 987.", 987, 3),          # no word "value": first non-key number
    ("5678", 5678, None),
    ("1234: 5678", 5678, None),                                   # the asked key itself is skipped
    ("I could not find key 1234.", None, None),
    ("The value of key 1234 is 8,364 and it is in Dictionary [5].", 8364, 5),   # thousands separator
    ("key 1234 -> 8,364", 8364, None),
    ("Values 8,3645 and 3.5", 8, None),                # not a thousands group: the plain number
    ("The value of key 1234 is <fill-in-value> and it is in Dictionary [<fill-in-dictionary-name>].", None, None),
])
def test_parse_simple_kv(text, value, dict_):
    assert parse_value(text, {1234}) == value
    assert parse_dict(text) == dict_


def test_parse_multi_subkey_kv():
    text = ("The key that contains the integers 417, 645, 847 is (645, 417, 847). Its value is 6409 and it is in "
            "Dictionary [6].")
    assert parse_key(text) == (645, 417, 847)
    assert parse_value(text, {417, 645, 847}) == 6409
    assert parse_dict(text) == 6
    # The question's subkeys echoed as a tuple first: the tuple after "is" is the answer.
    echo = "The key containing (417, 645, 847) is (645, 417, 847), value 6409, Dictionary 6"
    assert parse_key(echo) == (645, 417, 847)
    assert parse_value(echo, {417, 645, 847}) == 6409
    assert parse_key("no tuple here") is None

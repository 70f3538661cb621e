"""The suite's answer readers on corpora of right and wrong free-form answers."""
from __future__ import annotations

import pytest

from needlework.evals.suite.readers import answer_line, short_answer_em, yes_no

RIGHT = ["Paris", "paris", "The answer is Paris.", "It's in Paris, France", "**Paris**", "\n\nParis",
         "Answer: Paris", "PARIS!", "The city of Paris\nLondon is wrong", "  the answer: \"Paris\"",
         "The answer is:\n\nParis", "Answer:\nParis"]
WRONG = ["London", "", "   \n  ", "Parisian cafes", "comparison", "I don't know", "London\nParis",
         "The answer is:\n\nLondon\n\nParis",
         "The answer is Lyon."]


@pytest.mark.parametrize("text", RIGHT)
def test_short_answer_right(text):
    assert short_answer_em(text, ["Paris"]) == 1.0


@pytest.mark.parametrize("text", WRONG)
def test_short_answer_wrong(text):
    assert short_answer_em(text, ["Paris"]) == 0.0


def test_any_alias_and_multiword_answers():
    assert short_answer_em("Roughly 23 years later.", ["twenty-three years", "23 years", "23"]) == 1.0
    assert short_answer_em("It was built by the Amber river.", ["Amber River"]) == 1.0
    assert short_answer_em("Ann", ["Anna"]) == 0.0 and short_answer_em("Anna", ["Ann"]) == 0.0
    assert short_answer_em("The sign is *.", ["*"]) == 1.0 and short_answer_em("**bold**", ["*"]) == 0.0


def test_answer_line_skips_blank_lines_and_label():
    assert answer_line("\n  \nAnswer: Rome\nmore") == "Rome"
    assert answer_line("") == ""


@pytest.mark.parametrize("text,want", [("Yes.", "yes"), ("yes, because the passage says so", "yes"),
                                       ("YES", "yes"), ("Answer: No", "no"), ("No, it is not.", "no"),
                                       ("True", "yes"), ("false.", "no"), ("\nYes", "yes"),
                                       ("I cannot tell", "other"), ("", "other"), ("Yesterday", "other")])
def test_yes_no(text, want):
    assert yes_no(text) == want

"""Answer readers fair to free-form answers, for every suite task.

`short_answer_em` is Liu et al.'s best-subspan exact match (needlework.text) made fair in two ways a free-form
answer needs: it reads the first *non-empty* line (a model that opens with a blank line, "Answer:" or "The answer
is:" and a line break has still answered), and a gold answer must match whole words of that line ("paris" is in "It's in Paris, France" but
not in "comparison"; "Ann" is not in "Anna"). Any gold alias counts. A gold answer that normalises to nothing
is matched raw, as a whole token (text._raw_match).

`yes_no` reads a yes/no answer: the first of yes/no (and true/false, correct/incorrect) in the first non-empty
line, so "Yes.", "yes, because ..." and "No, it is not" all read; neither word: "other" (never right).
"""
from __future__ import annotations

import re

from ...text import _raw_match, normalize_answer

_LABEL = re.compile(r"^\s*(?:final\s+)?answer\s*[:\-]\s*", re.I)
_YES_NO = {"yes": "yes", "true": "yes", "correct": "yes", "no": "no", "false": "no", "incorrect": "no"}


def answer_line(text: str) -> str:
    """The first non-empty line, without a leading "Answer:" label; a lead-in that ends in a colon ("The answer
    is:") is read with the next non-empty line, where its answer is."""
    lines = [ln for ln in (_LABEL.sub("", raw).strip() for raw in text.splitlines()) if ln]
    if not lines:
        return ""
    return f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]


def short_answer_em(text: str, answers: list[str] | tuple[str, ...]) -> float:
    line = answer_line(text)
    pred = f" {normalize_answer(line)} "
    for ans in answers:
        gold = normalize_answer(ans)
        if (gold and f" {gold} " in pred) or (not gold and _raw_match(ans, line)):
            return 1.0
    return 0.0


def yes_no(text: str) -> str:
    for word in normalize_answer(answer_line(text)).split():
        if word in _YES_NO:
            return _YES_NO[word]
    return "other"

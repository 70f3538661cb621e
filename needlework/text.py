"""Pure text helpers shared by data generation and scoring (Liu et al.'s best-subspan exact match is here, not in
evals/, because the training-time MDQA probe scores with it too)."""
from __future__ import annotations

import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def normalize_answer(s: str) -> str:
    """SQuAD normalisation: lowercase, drop ASCII punctuation, articles -> space, collapse whitespace."""
    s = s.lower().translate(_PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def contains_any_answer(text: str, answers: list[str]) -> bool:
    norm = normalize_answer(text)
    return any(normalize_answer(a) and normalize_answer(a) in norm for a in answers)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of sentences: split after . ! ? followed by space and a capital/digit/quote."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def first_line(text: str) -> str:
    """Everything up to the first newline (Liu et al. score only this), stripped."""
    return text.split("\n")[0].strip()


def best_subspan_em(prediction: str, answers: list[str]) -> float:
    """1.0 if any normalised gold answer is a substring of the normalised first line of the prediction.

    A gold answer that normalises to nothing (NQ-Open has `*` for "the multiplication sign") would match
    every prediction in Liu et al.'s code ("" is in any string) and none if skipped; it is matched
    unnormalised instead (lowercase, whitespace collapsed), as a whole token (_raw_match)."""
    line = first_line(prediction)
    pred = normalize_answer(line)
    for ans in answers:
        gold = normalize_answer(ans)
        if (gold and gold in pred) or (not gold and _raw_match(ans, line)):
            return 1.0
    return 0.0


def _raw_match(answer: str, prediction: str) -> bool:
    """`answer` occurs in `prediction` (both lowercased, whitespace collapsed) and is not part of a longer
    word or a longer run of its own characters: `*` matches "the sign is *." but not "**bold**"."""
    a, p = " ".join(answer.lower().split()), " ".join(prediction.lower().split())
    if not a:
        return False
    own = "[" + re.escape("".join(sorted(set(a)))) + "]"
    left = r"(?<![0-9a-z])" if a[0].isalnum() else f"(?<!{own})"
    right = r"(?![0-9a-z])" if a[-1].isalnum() else f"(?!{own})"
    return re.search(left + re.escape(a) + right, p) is not None

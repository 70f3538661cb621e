"""Scoring functions, each reproducing its benchmark's published rule (REFERENCE.md §3, §4), plus intervals.

- SQuAD normalisation and best-subspan exact match (Liu et al.): only the first line of the output is
  scored, so a model cannot win by copying the documents back.
- FLenQA answer extraction (Levy et al.): the last of "true"/"false" wins, after "not true" -> "false";
  unlike their code we really do remove punctuation (theirs was a no-op by mistake, REFERENCE §4).
- Wilson score interval for a proportion (paired differences of two runs: needlework.evals.paired).
"""
from __future__ import annotations

import math
import re
import string

from ..text import normalize_answer

_PUNCT = set(string.punctuation)   # ASCII punctuation only, as SQuAD's evaluation script does
_ARTICLES = re.compile(r"\b(a|an|the)\b")
Z95 = 1.959963984540054
normalize_squad = normalize_answer   # the one SQuAD normalisation (needlework.text), shared with data generation


def first_line(text: str) -> str:
    """Everything up to the first newline (Liu et al. score only this), stripped."""
    return text.split("\n")[0].strip()


def best_subspan_em(prediction: str, answers: list[str]) -> float:
    """1.0 if any normalised gold answer is a substring of the normalised first line of the prediction.

    A gold answer that normalises to nothing (NQ-Open has `*` for "the multiplication sign") would match
    every prediction in Liu et al.'s code ("" is in any string) and none if skipped; it is matched
    unnormalised instead (lowercase, whitespace collapsed), as a whole token (_raw_match)."""
    line = first_line(prediction)
    pred = normalize_squad(line)
    for ans in answers:
        gold = normalize_squad(ans)
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


def normalize_flenqa(text: str) -> str:
    """FLenQA's normalisation: lowercase, remove punctuation, remove articles, collapse whitespace.

    Unicode punctuation such as the curly quote ’ in their CoT prompt is removed too: a model that
    echoes "’true’" must still count as "true"."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT and not _is_unicode_punct(ch))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _is_unicode_punct(ch: str) -> bool:
    import unicodedata
    return ord(ch) > 127 and unicodedata.category(ch).startswith("P")


def flenqa_answer(output: str) -> str:
    """'true', 'false' or 'other': whichever of the two words occurs last after "not true" -> "false"."""
    text = normalize_flenqa(output).replace("not true", "false")
    t, f = text.rfind("true"), text.rfind("false")
    if t == f:   # both -1: neither word appears (a refusal or an off-topic answer)
        return "other"
    return "true" if t > f else "false"


def flenqa_correct(output: str, label: str) -> float:
    return 1.0 if flenqa_answer(output) == str(label).strip().lower() else 0.0


def wilson(k: float, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for k successes in n trials; (0, 1) when n is 0 (nothing is known)."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))

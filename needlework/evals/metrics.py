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

from ..text import best_subspan_em, first_line, normalize_answer  # noqa: F401  (Liu et al.'s rule lives in text)

_PUNCT = set(string.punctuation)   # ASCII punctuation only, as SQuAD's evaluation script does
_ARTICLES = re.compile(r"\b(a|an|the)\b")
Z95 = 1.959963984540054
normalize_squad = normalize_answer   # the one SQuAD normalisation (needlework.text), shared with data generation


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

"""Reading the paper's two dictionary tasks' answers out of free text, and scoring them (Task.read / Task.score
for simple_kv and multi_subkey_kv). A model need not follow the template to be scored fairly: the value is the
first number after the word "value" (skipping "of key K"), the dictionary is a "Dictionary [d]"-like mention,
the key the first tuple after "is".
"""
from __future__ import annotations

import re

_TUPLE = re.compile(r"\(\s*\d+(?:\s*,\s*\d+)+\s*,?\s*\)")
_DICT = re.compile(r"dictionary\s*(?:\[\s*|#\s*|no\.?\s*|number\s*)?(\d+)", re.I)
_VALUE = re.compile(r"\bvalue\b", re.I)
_KEY_PHRASE = re.compile(r"^\s*(?:of|for)\s+(?:the\s+)?key\s*(?:\([^)]*\)|\d+)", re.I)
# A number, with thousands separators ("8,364" is 8364, not 8) but not a decimal ("3.5") or part of a word.
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?!\d|[.,]\d)|\d+)(?![\w.]\d)")


def _int(match: re.Match) -> int:
    return int(match.group().replace(",", ""))


def parse_value(text: str, exclude: set[int] = frozenset()) -> int | None:
    """The value the model reports: the first number after the word "value" (skipping "of key K"); else the
    first bare number that is neither a dictionary name, inside a tuple key, nor one of the asked keys."""
    for m in _VALUE.finditer(text):
        rest = _KEY_PHRASE.sub("", text[m.end():m.end() + 120])
        rest = _DICT.sub(" ", _TUPLE.sub(" ", rest))
        n = _NUMBER.search(rest)
        if n:
            return _int(n)
    masked = _DICT.sub(" ", _TUPLE.sub(" ", text))
    for n in _NUMBER.finditer(masked):
        if _int(n) not in exclude:
            return _int(n)
    return None


def parse_dict(text: str) -> int | None:
    m = _DICT.search(text)
    return int(m.group(1)) if m else None


def parse_key(text: str) -> tuple[int, ...] | None:
    """The key tuple: the first tuple right after "is" (the template's "... is (a, b, c)"), else the first one."""
    tuples = list(_TUPLE.finditer(text))
    if not tuples:
        return None
    after_is = [t for t in tuples if re.search(r"\bis\s*\**\s*$", text[max(0, t.start() - 8):t.start()])]
    return tuple(int(x) for x in re.findall(r"\d+", (after_is or tuples)[0].group()))


def read(meta: dict, text: str) -> dict:
    """What the completion reports: value, dictionary name and (multi-subkey) key."""
    multi = "question_subkeys" in meta
    asked = set(meta["question_subkeys"]) if multi else {meta["gold_key"]}
    parsed = {"value": parse_value(text, asked), "dict": parse_dict(text)}
    if multi:
        key = parse_key(text)
        parsed["key"] = list(key) if key else None
    return parsed


def score(meta: dict, text: str) -> dict[str, float]:
    parsed = read(meta, text)
    value_ok = parsed["value"] == meta["gold_value"]
    scores = {"value_acc": float(value_ok), "value_dict_acc": float(value_ok and parsed["dict"] == meta["gold_dict"])}
    if "question_subkeys" in meta:
        scores["key_acc"] = float(parsed["key"] is not None and parsed["key"] == list(meta["gold_key"]))
    return scores


SIMPLE_METRICS = ("value_acc", "value_dict_acc")
MULTI_METRICS = ("value_acc", "value_dict_acc", "key_acc")

"""Where a sample's gold key, value and dictionary number sit in text and in tokens, read from its meta.

One module for every consumer that must tell value tokens from format tokens: early stopping's value-exact
signal (train/early_stop.py), the loss map's value/format split and the retrieval heads' needle
(needlework/probes). It lives in `tasks`, below both `train` and `probes`, because it only reads the meta the
task generators write (`gold_<what>` or a list `gold_<what>s`); tokens come in as an encoded sample
(anything with `input_ids`, `answer_start`, `answer_end`, e.g. train.masking.Encoded) and its tokenizer.
"""
from __future__ import annotations

import re
from typing import Any


def gold_strings(meta: dict, what: str) -> list[str]:
    """meta's gold `what` (key, value, dict) as strings, from `gold_<what>` or a task's list `gold_<what>s`
    (formatted_kv asks several keys at once and may give a key several values), flattened."""
    out: list[str] = []

    def add(v) -> None:
        if isinstance(v, (list, tuple)):
            for x in v:
                add(x)
        elif v is not None:
            out.append(str(v))
    add(meta.get(f"gold_{what}"))
    add(meta.get(f"gold_{what}s"))
    return out


def gold_values(answer: str, meta: dict) -> list[str]:
    """The strings the answer copies: meta's gold value(s), else the whole answer."""
    return gold_strings(meta, "value") or [answer.strip()]


def value_spans(answer: str, meta: dict) -> list[tuple[int, int]]:
    """Character spans of the gold key, value and dictionary number inside the answer."""
    spans = []
    for what in ("key", "value", "dict"):
        for s in gold_strings(meta, what):
            spans += [m.span() for m in re.finditer(rf"(?<!\d){re.escape(s)}(?!\d)", answer)]
    return spans


def near_key(text: str, found: list[tuple[int, int]], key: Any) -> list[tuple[int, int]]:
    """Of several occurrences of the value, the one(s) closest after an occurrence of the gold key (a value
    duplicated elsewhere in the haystack is not the needle); all of them when no key precedes any."""
    if key is None or len(found) < 2:
        return found
    key_ends = [e for _, e in value_spans(text, {"gold_key": key})]
    gaps = [min((s - e for e in key_ends if e <= s), default=None) for s, _ in found]
    if all(g is None for g in gaps):
        return found
    best = min(g for g in gaps if g is not None)
    return [f for f, g in zip(found, gaps) if g == best]


def answer_tokens(tokenizer, enc, answer: str, meta: dict) -> list[tuple[int, str, bool]]:
    """(position, text, is value) for each answer token: its text is what decoding adds at that token, and it
    is a value token when that text overlaps a gold key/value/dictionary span of `meta`."""
    spans, out, prev = value_spans(answer, meta), [], ""
    for i in range(enc.answer_start, enc.answer_end):
        text = tokenizer.decode(enc.input_ids[enc.answer_start:i + 1])
        a, b = len(prev), len(text)
        out.append((i, text[a:], any(a < e and s < b for s, e in spans)))
        prev = text
    return out


def value_positions(tokenizer, enc, answer: str, meta: dict) -> list[int]:
    """Label positions of the answer tokens that spell the gold value (as the loss map finds them)."""
    return [i for i, _, value in answer_tokens(tokenizer, enc, answer, {"gold_value": gold_strings(meta, "value")})
            if value]

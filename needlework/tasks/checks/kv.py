"""Invariants of the paper's two dictionary tasks (simple_kv, multi_subkey_kv), re-derived from the prompt text
alone (for `needlework validate`): every dictionary line is a Python dict repr of integer pairs, the question
uses the reference wording, the gold key occurs once, no other value equals the gold value, and the answer is
the one the prompt implies."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..kv import multi_subkey_kv as mkv
from ..kv import simple_kv as skv
from ..base import Invalid
from ..kv.common import HEAD, TEMPLATE_INTRO

LINE = re.compile(r"Dictionary \[(\d+)\] (\{.*\})")
SIMPLE_PAIR = re.compile(r"(\d+): (\d+)")
MULTI_PAIR = re.compile(r"\((\d+(?:, \d+)*,?)\): (\d+)")


@dataclass
class KVParse:
    names: list[int]
    dicts: list[list[tuple]]   # per dictionary: (key, value) in order
    tail: str


def parse_kv_prompt(prompt: str, multi: bool) -> KVParse:
    if not prompt.startswith(HEAD):
        raise Invalid("prompt does not start with the task sentence and a blank line")
    body, sep, tail = prompt[len(HEAD):].partition("\n\n")
    if not sep:
        raise Invalid("no blank line between the dictionaries and the question")
    names, dicts = [], []
    for line in body.split("\n"):
        m = LINE.fullmatch(line)
        if not m:
            raise Invalid(f"malformed dictionary line: {line[:80]!r}")
        names.append(int(m.group(1)))
        if multi:
            pairs = [(tuple(int(x) for x in re.findall(r"\d+", k)), int(v)) for k, v in MULTI_PAIR.findall(m.group(2))]
            rebuilt = mkv.body([k for k, _ in pairs], [v for _, v in pairs])
        else:
            pairs = [(int(k), int(v)) for k, v in SIMPLE_PAIR.findall(m.group(2))]
            rebuilt = skv.body([k for k, _ in pairs], [v for _, v in pairs])
        if rebuilt != m.group(2):
            raise Invalid(f"dictionary [{m.group(1)}] is not a Python dict repr of integer pairs")
        dicts.append(pairs)
    if names != list(range(1, len(names) + 1)):
        raise Invalid(f"dictionary names are not 1..{len(names)} in order")
    for name, pairs in zip(names, dicts):
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise Invalid(f"dictionary [{name}] repeats a key")
    return KVParse(names, dicts, tail)


def check_simple(prompt: str, answer: str, meta: dict) -> None:
    p = parse_kv_prompt(prompt, multi=False)
    m = re.fullmatch(r"Above is a list of dictionaries such that each key and value is an integer\. "
                     r"Report the value of key (\d+) and the dictionary it is in\.(.*)", p.tail, re.S)
    if not m:
        raise Invalid("question does not match the reference wording")
    key = int(m.group(1))
    if m.group(2) not in ("", TEMPLATE_INTRO + skv.TEMPLATE.format(key=key)):
        raise Invalid("answer template does not match the reference wording")
    hits = [(name, v) for name, pairs in zip(p.names, p.dicts) for k, v in pairs if k == key]
    if len(hits) != 1:
        raise Invalid(f"gold key {key} occurs {len(hits)} times as a key (must be exactly once)")
    gold_dict, gold_value = hits[0]
    clash = [name for name, pairs in zip(p.names, p.dicts) for k, v in pairs if v == gold_value and k != key]
    if clash:
        raise Invalid(f"a non-gold value equals the gold value {gold_value} (dictionary [{clash[0]}])")
    expected = skv.ANSWER.format(key=key, value=gold_value, dict=gold_dict)
    if answer != expected:
        raise Invalid(f"answer {answer!r} != expected {expected!r}")
    _check_meta(meta, gold_key=key, gold_value=gold_value, gold_dict=gold_dict, num_dict=len(p.names))


def check_multi(prompt: str, answer: str, meta: dict) -> None:
    p = parse_kv_prompt(prompt, multi=True)
    m = re.fullmatch(r"Above is a list of dictionaries such that each key is a tuple of integers and each value is "
                     r"an integer\. Report the key that contains the integers ([\d, ]+) \(not necessarily in order\), "
                     r"its value, and the dictionary it is in\.(.*)", p.tail, re.S)
    if not m:
        raise Invalid("question does not match the reference wording")
    asked = tuple(int(x) for x in m.group(1).split(", "))
    if m.group(2) not in ("", TEMPLATE_INTRO + mkv.TEMPLATE.format(subkeys=m.group(1))):
        raise Invalid("answer template does not match the reference wording")
    for name, pairs in zip(p.names, p.dicts):
        for k, _ in pairs:
            if len(set(k)) != len(k):
                raise Invalid(f"key {k} in dictionary [{name}] repeats a subkey")
    hits = [(name, k, v) for name, pairs in zip(p.names, p.dicts) for k, v in pairs if set(asked) <= set(k)]
    if len(hits) != 1:
        raise Invalid(f"{len(hits)} keys contain all of {asked} (must be exactly one)")
    gold_dict, gold, gold_value = hits[0]
    if len(gold) != len(asked):
        raise Invalid(f"the question asks {len(asked)} subkeys but the gold key {gold} has {len(gold)}")
    if len(gold) > 1 and asked == gold and meta.get("question_order") == "differ":
        raise Invalid("question subkeys are in the gold key's own order (question_order 'differ' forbids it)")
    n_common = meta.get("n_common")
    for name, pairs in zip(p.names, p.dicts):
        for k, v in pairs:
            if k == gold:
                continue
            if v == gold_value:
                raise Invalid(f"a non-gold value equals the gold value {gold_value} (dictionary [{name}])")
            if n_common is not None and len(set(k) & set(gold)) > n_common:
                raise Invalid(f"key {k} in dictionary [{name}] shares more than n_common={n_common} subkeys")
    expected = mkv.ANSWER.format(subkeys=m.group(1), key=mkv.key_repr(gold), value=gold_value, dict=gold_dict)
    if answer != expected:
        raise Invalid(f"answer {answer!r} != expected {expected!r}")
    _check_meta(meta, gold_key=list(gold), gold_value=gold_value, gold_dict=gold_dict, num_dict=len(p.names))


def _check_meta(meta: dict, **truth) -> None:
    for k, v in truth.items():
        if k in meta and meta[k] != v:
            raise Invalid(f"meta {k}={meta[k]!r} disagrees with the prompt ({v!r})")

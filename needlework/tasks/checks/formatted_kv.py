"""Invariants of formatted_kv rows, re-derived from the prompt text alone (for `needlework validate`).

The question names the formats and the rendering; every dictionary must be exactly what that rendering
writes for what it holds; each asked key must occur once, all in one dictionary; no other value may equal a
gold value; and the answer must be the one the prompt implies.
"""
from __future__ import annotations

import ast
import json
import re

from ..kv import formatted_kv as fkv
from ..kv import key_value_formats as fmt
from ..base import Invalid
from ..kv.common import HEAD

LINE = re.compile(r"Dictionary \[(\d+)\] (\{.*\})")
NOUNS = {v[0]: k for k, v in fmt.NOUN.items()}
PLURALS = {v[1]: k for k, v in fmt.NOUN.items()}
QUESTION = re.compile(r"Above is a list of dictionaries( written as JSON objects)? such that each key is (.+?) and "
                      r"each value is (.+?)\. Report the (values?) of (?:key (\S+) and the dictionary it is in|each of "
                      r"the keys (.+?) and the dictionary (they are|each is) in)\.", re.S)
SHAPES = {"number": re.compile(r"[1-9]\d*"), "word": re.compile(rf"(?:[{fmt.CONSONANTS}][{fmt.VOWELS}]){{{fmt.SYLLABLES}}}"),
          "string": re.compile(rf"[a-z0-9]{{{fmt.STRING_LEN}}}"),
          "uuid": re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")}


def _config(tail: str) -> tuple[fkv.FormattedKVConfig, list[str], str]:
    m = QUESTION.match(tail)
    if not m:
        raise Invalid("question does not match the formatted_kv wording")
    key_fmt = NOUNS.get(m.group(2))
    many = re.fullmatch(r"a list of (\d+) (.+)", m.group(3))
    value_fmt, n_values = (PLURALS.get(many.group(2)), int(many.group(1))) if many else (NOUNS.get(m.group(3)), 1)
    if key_fmt is None or value_fmt is None or (m.group(4) == "values") != (n_values > 1):
        raise Invalid(f"question names unknown formats: keys {m.group(2)!r}, values {m.group(3)!r}")
    asked = [m.group(5)] if m.group(5) else re.split(r", | and ", m.group(6))
    cfg = fkv.FormattedKVConfig(key_format=key_fmt, value_format=value_fmt, n_values=n_values, n_queries=len(asked),
                                render="json" if m.group(1) else "python", query_spread=m.group(7) == "each is")
    return cfg, asked, tail[m.end():]


def _literal(text: str, render: str):
    try:
        return json.loads(text) if render == "json" else ast.literal_eval(text)
    except (ValueError, SyntaxError) as e:
        raise Invalid(f"{text[:40]!r} is not a {render} literal") from e


def _pairs(text: str, render: str) -> list[tuple]:
    """(key, value) pairs in written order, repeats kept."""
    if render == "json":
        return _literal_pairs(lambda: json.loads(text, object_pairs_hook=list))
    node = _literal_pairs(lambda: ast.parse(text, mode="eval").body)
    if not isinstance(node, ast.Dict) or None in node.keys:
        raise Invalid(f"{text[:40]!r} is not a Python dict literal")
    return [(ast.literal_eval(k), ast.literal_eval(v)) for k, v in zip(node.keys, node.values)]


def _literal_pairs(parse):
    try:
        return parse()
    except (ValueError, SyntaxError) as e:
        raise Invalid(f"a dictionary does not parse: {e}") from e


def _item_ok(x, kind: str, render: str, is_key: bool) -> bool:
    if kind == "number" and not (is_key and render == "json"):
        return type(x) is int and SHAPES[kind].fullmatch(str(x)) is not None
    return isinstance(x, str) and SHAPES[kind].fullmatch(x) is not None


def check_formatted_kv(prompt: str, answer: str, meta: dict) -> None:
    if not prompt.startswith(HEAD):
        raise Invalid("prompt does not start with the task sentence and a blank line")
    body, sep, tail = prompt[len(HEAD):].partition("\n\n")
    if not sep:
        raise Invalid("no blank line between the dictionaries and the question")
    cfg, asked_text, rest = _config(tail)
    number_keys = cfg.key_format == "number" and cfg.render == "json"   # JSON keys are strings: compare as ints
    asked = [_literal(a, cfg.render) for a in asked_text]
    asked = [int(a) if number_keys and isinstance(a, str) and a.isdigit() else a for a in asked]
    if len(set(map(str, asked))) != len(asked):
        raise Invalid("the question asks the same key twice")
    dicts = []
    for i, line in enumerate(body.split("\n"), 1):
        m = LINE.fullmatch(line)
        if not m or int(m.group(1)) != i:
            raise Invalid(f"malformed or misnumbered dictionary line {i}: {line[:80]!r}")
        pairs = _pairs(m.group(2), cfg.render)
        for k, v in pairs:
            vs = v if cfg.n_values > 1 else [v]
            if not _item_ok(k, cfg.key_format, cfg.render, True) or not isinstance(vs, list) or \
                    len(vs) != cfg.n_values or not all(_item_ok(x, cfg.value_format, cfg.render, False) for x in vs):
                raise Invalid(f"dictionary [{i}] holds {k!r}: {v!r}, not the formats the question names")
        pairs = [(int(k), v) if number_keys else (k, v) for k, v in pairs]
        if fmt.body([k for k, _ in pairs], [v for _, v in pairs], cfg.render) != m.group(2):
            raise Invalid(f"dictionary [{i}] is not written the way {cfg.render} writes it")
        if len({str(k) for k, _ in pairs}) != len(pairs):
            raise Invalid(f"dictionary [{i}] repeats a key")
        dicts.append(pairs)
    hits = {str(a): [(i, v) for i, pairs in enumerate(dicts, 1) for k, v in pairs if k == a] for a in asked}
    if any(len(h) != 1 for h in hits.values()):
        raise Invalid(f"asked keys occur {[len(h) for h in hits.values()]} times as keys (each must occur once)")
    where = [hits[str(a)][0][0] for a in asked]
    if len(set(where)) != (len(asked) if cfg.query_spread else 1):
        raise Invalid(f"the asked keys sit in dictionaries {where}: " +
                      ("each must have its own" if cfg.query_spread else "all must sit in one"))
    values = [hits[str(a)][0][1] for a in asked]
    flat = [x for v in values for x in (v if cfg.n_values > 1 else [v])]
    if len(set(map(str, flat))) != len(flat):
        raise Invalid("two gold values are equal")
    for i, pairs in enumerate(dicts, 1):
        for k, v in pairs:
            if k not in asked and set(map(str, v if cfg.n_values > 1 else [v])) & set(map(str, flat)):
                raise Invalid(f"a non-gold value in dictionary [{i}] equals a gold value")
    cfg.template = bool(rest)
    if fkv.question(cfg, asked) != tail:
        raise Invalid("question or answer template does not match the formatted_kv wording")
    expected = fkv.answer(cfg, asked, values, where)
    if answer != expected:
        raise Invalid(f"answer {answer!r} != expected {expected!r}")
    for name, truth in (("gold_keys", asked), ("gold_values", values), ("gold_dict", where[0]),
                        ("gold_dicts", where), ("num_dict", len(dicts))):
        if name in meta and meta[name] != truth:
            raise Invalid(f"meta {name}={meta[name]!r} disagrees with the prompt ({truth!r})")

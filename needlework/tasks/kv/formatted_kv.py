"""Dictionary retrieval with keys and values in any format, written as Python dicts or JSON objects, with
several keys asked at once (multi-query) and several values per key (multi-value): one configurable family.

The frame is the paper's (kv/common.py: "Dictionary [i] {...}" lines, then the question), so gold placement,
the depth/position axes and the token budgets work exactly as for simple_kv. With number keys and values,
Python rendering and one query of one value, the answer sentence is simple_kv's. JSON rendering follows
HELMET's JSON KV (keys are quoted strings, UUID keys and values with `key_format: uuid, value_format: uuid`).
All asked pairs sit in the gold dictionary (in random order, so each key must still be found), or with
`query_spread` each in its own dictionary (RULER's multi-query: the position axis places the first asked
key, the others replace a pair in uniformly drawn other dictionaries). No other key equals an asked key and no
other value equals a gold value, so every answer is unique in the prompt.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ...config import ConfigError
from . import key_value_formats as fmt
from ..base import Sample, TokenCount, count_under_max
from .answers import dict_names, first_dict
from .common import TEMPLATE_INTRO, KVCommon, assemble, build_prompt, choose_position
from .simple_kv import depth_of

NAME = "formatted_kv"
DICT_PLACEHOLDER = "<fill-in-dictionary-name>"


@dataclass
class FormattedKVConfig(KVCommon):
    key_format: str = field(default="word", metadata={"help": "How keys are written: number | word | string | uuid."})
    value_format: str = field(default="number", metadata={
        "help": "How values are written: number | word | string | uuid."})
    render: str = field(default="python", metadata={
        "help": "How dictionaries are written: python (dict repr) | json (JSON objects, HELMET's JSON KV)."})
    n_queries: int = field(default=1, metadata={
        "help": "Keys asked at once (all in the gold dictionary unless query_spread)."})
    query_spread: bool = field(default=False, metadata={
        "help": "Each asked key in a different dictionary (needs a fixed num_dict)."})
    n_values: int = field(default=1, metadata={"help": "Values per key; more than 1 makes every value a list."})
    gold_dict_len: int | None = field(default=None, metadata={
        "help": "Pairs in the gold dictionary; null: drawn from dict_len (at least the asked keys it holds)."})

    def validate(self) -> None:
        for name, allowed in (("key_format", fmt.FORMATS), ("value_format", fmt.FORMATS), ("render", fmt.RENDERS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.n_queries < 1 or self.n_values < 1:
            raise ConfigError(f"n_queries and n_values must be >= 1, got {self.n_queries} and {self.n_values}")
        if self.gold_dict_len is not None and self.gold_dict_len < self.in_gold():
            raise ConfigError(f"gold_dict_len={self.gold_dict_len} cannot hold the n_queries={self.n_queries} asked keys")
        self.validate_common(min_keys_per_prompt=0)   # the number-space check below depends on the formats
        n = self.effective_num_dict()
        if self.query_spread and (n is None or n < self.n_queries):
            raise ConfigError(f"query_spread puts each of the n_queries={self.n_queries} keys in its own dictionary: "
                              f"it needs a fixed num_dict >= n_queries (got num_dict={n}; target_tokens cannot be used)")
        keys = (n or 1) * max(self.dict_len[1], self.n_queries)
        if fmt.space(self.key_format, self.digits) < 2 * keys:
            raise ConfigError(f"key_format={self.key_format} with digits={list(self.digits)} gives too few distinct "
                              f"keys for {keys} keys per prompt: widen digits or shrink num_dict/dict_len")
        if fmt.space(self.value_format, self.digits) < 2 * self.n_queries * self.n_values + 2:
            raise ConfigError(f"value_format={self.value_format} with digits={list(self.digits)} gives too few "
                              "values for distractors to differ from the gold values: widen digits")


    def in_gold(self) -> int:
        """Asked keys held by the gold dictionary."""
        return 1 if self.query_spread else self.n_queries


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def question(cfg: FormattedKVConfig, keys: list) -> str:
    k_noun = fmt.NOUN[cfg.key_format][0]
    v_noun = fmt.NOUN[cfg.value_format][0] if cfg.n_values == 1 else \
        f"a list of {cfg.n_values} {fmt.NOUN[cfg.value_format][1]}"
    written = " written as JSON objects" if cfg.render == "json" else ""
    what = "value" if cfg.n_values == 1 else "values"
    lits = [fmt.key_literal(k, cfg.render) for k in keys]
    where = "each is" if cfg.query_spread else "they are"
    ask = (f"Report the {what} of key {lits[0]} and the dictionary it is in." if len(keys) == 1 else
           f"Report the {what} of each of the keys {_join(lits)} and the dictionary {where} in.")
    q = f"Above is a list of dictionaries{written} such that each key is {k_noun} and each value is {v_noun}. {ask}"
    if not cfg.template:
        return q
    fill = "<fill-in-value>" if cfg.n_values == 1 else "<fill-in-values>"
    return q + TEMPLATE_INTRO + answer(cfg, keys, [fill] * len(keys), [DICT_PLACEHOLDER] * len(keys),
                                       literal_values=False)


def answer(cfg: FormattedKVConfig, keys: list, values: list, dicts: list, literal_values: bool = True) -> str:
    """'The value of key K is V and it is in Dictionary [d].'; several keys: '...; the value of key K2 is
    V2; they are in Dictionary [d].' (spread: each clause names its own dictionary); several values: 'the
    values of key K are V1, V2, V3'."""
    def shown(v) -> str:
        if not literal_values:
            return v
        return ", ".join(fmt.literal(x, cfg.render) for x in v) if cfg.n_values > 1 else fmt.literal(v, cfg.render)

    verb = "value of key {} is {}" if cfg.n_values == 1 else "values of key {} are {}"
    parts = ["the " + verb.format(fmt.key_literal(k, cfg.render), shown(v)) for k, v in zip(keys, values)]
    if cfg.query_spread or len(keys) == 1:
        parts = [f"{p} and it is in Dictionary [{d}]" for p, d in zip(parts, dicts)]
        end = "."
    else:
        end = f"; they are in Dictionary [{dicts[0]}]."
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + end


def _group(flat: list, n: int) -> list:
    return flat if n == 1 else [flat[i:i + n] for i in range(0, len(flat), n)]


def _pairs(cfg: FormattedKVConfig, rng: np.random.Generator, count: int, gold_keys: set, gold_values: set):
    keys = fmt.draw(cfg.key_format, rng, count, cfg.digits, exclude=gold_keys)
    values = fmt.draw(cfg.value_format, rng, count * cfg.n_values, cfg.digits, exclude=gold_values)
    return keys, _group(values, cfg.n_values)


def _dictionaries(cfg: FormattedKVConfig, rng: np.random.Generator, count: int, gold_keys: set,
                  gold_values: set) -> list[tuple[list, list]]:
    """`count` distractor dictionaries as (keys, values), all drawn in one batch."""
    lens = rng.integers(cfg.dict_len[0], cfg.dict_len[1] + 1, size=count).tolist()
    keys, values = _pairs(cfg, rng, sum(lens), gold_keys, gold_values)
    out, start = [], 0
    for n in lens:
        ks = keys[start:start + n]
        if len(set(ks)) < n:   # rare: a key repeats inside one dictionary; redraw the repeats
            ks = list(dict.fromkeys(ks))
            ks += fmt.draw(cfg.key_format, rng, n - len(ks), cfg.digits, gold_keys | set(ks), unique=True)
        out.append((ks, values[start:start + n]))
        start += n
    return out


def _distractor_block(cfg: FormattedKVConfig, gold_keys: set, gold_values: set):
    def make(rng: np.random.Generator, count: int) -> list[str]:
        return [fmt.body(k, v, cfg.render) for k, v in _dictionaries(cfg, rng, count, gold_keys, gold_values)]

    return make


def _spread(cfg: FormattedKVConfig, rng: np.random.Generator, gold_body: str, asked: list, gold_values: list,
            tail: str, count_tokens: TokenCount | None) -> tuple[str, list[int], int, int | None]:
    """The layout with asked keys 2..q each replacing a pair of its own distractor dictionary."""
    n = cfg.effective_num_dict()
    flat = [x for v in gold_values for x in (v if cfg.n_values > 1 else [v])]
    dists = _dictionaries(cfg, rng, n - 1, set(asked), set(flat))
    pos = choose_position(cfg, rng, n)
    carriers = rng.choice(n - 1, size=len(asked) - 1, replace=False).tolist()
    for j, key, value in zip(carriers, asked[1:], gold_values[1:]):
        slot = int(rng.integers(len(dists[j][0])))
        dists[j][0][slot], dists[j][1][slot] = key, value
    bodies = [fmt.body(k, v, cfg.render) for k, v in dists]
    prompt = build_prompt(bodies[:pos - 1] + [gold_body] + bodies[pos - 1:], tail)
    where = [pos] + [j + 1 if j + 1 < pos else j + 2 for j in carriers]
    return prompt, where, n, count_under_max(prompt, count_tokens, cfg.max_tokens)


def generate(cfg: FormattedKVConfig, rng: np.random.Generator, count_tokens: TokenCount | None = None) -> Sample:
    l_min, l_max = cfg.dict_len
    q, nv = cfg.n_queries, cfg.n_values
    held = cfg.in_gold()
    gold_len = cfg.gold_dict_len if cfg.gold_dict_len is not None else max(held, int(rng.integers(l_min, l_max + 1)))
    asked = fmt.draw(cfg.key_format, rng, q, cfg.digits, unique=True)
    flat = fmt.draw(cfg.value_format, rng, q * nv, cfg.digits, unique=True)
    gold_values = _group(flat, nv)
    other_keys = fmt.draw(cfg.key_format, rng, gold_len - held, cfg.digits, exclude=set(asked), unique=True)
    other_values = _group(fmt.draw(cfg.value_format, rng, (gold_len - held) * nv, cfg.digits, exclude=set(flat)), nv)
    order = rng.permutation(gold_len).tolist()   # asked pairs at random slots of the gold dictionary
    keys, values = asked[:held] + other_keys, gold_values[:held] + other_values
    gold_body = fmt.body([keys[i] for i in order], [values[i] for i in order], cfg.render)
    if cfg.query_spread:
        prompt, where, n, tokens = _spread(cfg, rng, gold_body, asked, gold_values, question(cfg, asked),
                                           count_tokens)
    else:
        prompt, pos, n, tokens = assemble(cfg, rng, gold_body, _distractor_block(cfg, set(asked), set(flat)),
                                          question(cfg, asked), count_tokens)
        where = [pos] * q
    pos = where[0]
    return Sample(task=NAME, prompt=prompt, answer=answer(cfg, asked, gold_values, where),
                  meta={"gold_keys": asked, "gold_values": gold_values, "gold_dict": pos, "gold_dicts": where,
                        "num_dict": n,
                        "depth": depth_of(prompt, pos), "n_tokens": tokens, "template": cfg.template,
                        "key_format": cfg.key_format, "value_format": cfg.value_format, "render": cfg.render})


# ------------------------------------------------------------------ scoring a free-text completion
METRICS = ("value_acc", "value_recall", "value_dict_acc")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def mentions(text: str, item) -> bool:
    """`item` appears in `text` as a whole token (a number not inside a longer number, a word not inside a
    longer word), with or without quotes; words and strings compare case-insensitively."""
    s = re.escape(str(item))
    if isinstance(item, int):   # thousands separators are dropped first: "8,364" is 8364
        return re.search(rf"(?<![\w.]){s}(?![\w]|[.,]\d)", _THOUSANDS.sub("", text)) is not None
    return re.search(rf"(?<![\w-]){s}(?![\w-])", text, re.I) is not None


def score(meta: dict, completion: str) -> dict[str, float]:
    """value_acc (headline): every gold value is in the completion; value_recall: the fraction that is
    (RULER's string match); value_dict_acc: every value and the gold dictionary's name."""
    flat = [v for vs in meta["gold_values"] for v in (vs if isinstance(vs, list) else [vs])]
    found = [mentions(completion, v) for v in flat]
    all_ok = all(found)
    return {"value_acc": float(all_ok), "value_recall": sum(found) / len(found),
            "value_dict_acc": float(all_ok and _dicts_ok(completion, meta))}


def _dicts_ok(completion: str, meta: dict) -> bool:
    """The gold dictionary is the first one named; spread keys: every gold dictionary is named."""
    gold = meta.get("gold_dicts", [meta["gold_dict"]])
    if len(set(gold)) == 1:
        return first_dict(completion) == gold[0]
    return set(gold) <= {d for names in dict_names(completion) for d in names}

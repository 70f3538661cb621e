"""Multi-subkey dictionary key-value retrieval (paper Fig. 2, Alg. 3-4; REFERENCE.md §2).

Keys are tuples of n_keys distinct subkeys. Other keys may reuse up to n_common "common" subkeys of the
gold key (each with probability p_share); their remaining subkeys are drawn outside the gold key, so by
construction no other key shares more than n_common subkeys with it, and none contains all of them.
(Alg. 3 instead redraws a key that happens to share too many; the distributions differ only on the
chance that a fresh random subkey equals a gold subkey, about n_keys/9,900 per subkey at 3-4 digits.)

Two details checked against the paper and the authors' released generator (dict_builder.py, task.py):
- Question order (`question_order`): the authors shuffle the gold key's subkeys uniformly, so the question
  may list them in the gold key's own order (1 in n_keys! samples); the paper says "not necessarily in
  order". `shuffle` (default) does the same; `differ` never uses the gold key's order.
- Other keys' lengths (`other_key_len`): Alg. 3 gives every key n_keys subkeys (default, null); the authors'
  code draws each non-gold key's length from a range, and Fig. 2 (n_keys 3) shows 3- and 4-subkey keys.
  `other_key_len: [3, 4]` reproduces the figure; the gold key always has n_keys.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ...config import ConfigError
from ..base import Sample, TokenCount
from .common import TEMPLATE_INTRO, KVCommon, assemble
from ..numbers import draw, space_size, unique_within
from .simple_kv import depth_of

NAME = "multi_subkey_kv"
MAX_REDRAWS = 64
QUESTION = ("Above is a list of dictionaries such that each key is a tuple of integers and each value is an "
            "integer. Report the key that contains the integers {subkeys} (not necessarily in order), its value, "
            "and the dictionary it is in.")
ANSWER = "The key that contains the integers {subkeys} is {key}. Its value is {value} and it is in Dictionary [{dict}]."
TEMPLATE = ANSWER.format(subkeys="{subkeys}", key="<fill-in-key>", value="<fill-in-value>",
                         dict="<fill-in-dictionary-name>")


@dataclass
class MultiSubkeyKVConfig(KVCommon):
    n_keys: int = field(default=3, metadata={"help": "Subkeys per key."})
    n_common: int = field(default=2, metadata={"help": "How many gold subkeys other keys may reuse."})
    p_share: float = field(default=0.5, metadata={
        "help": "Probability that each common subkey is reused in a given key."})
    gold_dict_len: int | None = field(default=None, metadata={
        "help": "Pairs in the gold dictionary; null: drawn from dict_len (Alg. 4)."})
    question_order: str = field(default="shuffle", metadata={
        "help": "Order of the asked subkeys: \"shuffle\" (uniform, may equal the gold's; the authors') or "
                "\"differ\" (never the gold's)."})
    other_key_len: tuple[int, int] | None = field(default=None, metadata={
        "help": "Subkeys of the non-gold keys: null: n_keys (Alg. 3); [min, max]: drawn in that range (Fig. 2)."})
    default_num_dict: ClassVar[int] = 49   # the paper's GPT-3.5 setting

    def effective_num_dict(self) -> int | None:
        if self.target_tokens is not None:
            return None
        return self.num_dict if self.num_dict is not None else self.default_num_dict

    def validate(self) -> None:
        if self.n_keys < 1:
            raise ConfigError(f"n_keys must be >= 1, got {self.n_keys}")
        if not 0 <= self.n_common < self.n_keys:
            raise ConfigError(f"n_common must satisfy 0 <= n_common < n_keys ({self.n_keys}), got {self.n_common}: "
                              "a key sharing every subkey with the gold key would make the question ambiguous")
        if not 0.0 <= self.p_share <= 1.0:
            raise ConfigError(f"p_share is a probability and must lie in [0, 1], got {self.p_share}")
        if self.question_order not in ("shuffle", "differ"):
            raise ConfigError(f"question_order must be 'shuffle' or 'differ', got {self.question_order!r}")
        if self.other_key_len is not None:
            k_min, k_max = self.other_key_len
            if not self.n_common < k_min <= k_max:
                raise ConfigError(f"other_key_len: need n_common ({self.n_common}) < min <= max, got "
                                  f"{list(self.other_key_len)}: a key as short as its shared subkeys could equal them")
        if self.gold_dict_len is not None and self.gold_dict_len < 1:
            raise ConfigError(f"gold_dict_len must be >= 1, got {self.gold_dict_len}")
        if space_size(*self.digits) < 2 * self.max_key_len() * self.dict_len[1]:
            raise ConfigError(f"digits={list(self.digits)} leave too few numbers for {self.n_keys}-subkey keys "
                              "distinct from the gold subkeys")
        self.validate_common(min_keys_per_prompt=self.n_keys)

    def max_key_len(self) -> int:
        return max(self.n_keys, self.other_key_len[1]) if self.other_key_len is not None else self.n_keys


def key_repr(key: tuple[int, ...]) -> str:
    return repr(tuple(key))


def body(keys: list[tuple[int, ...]], values: list[int]) -> str:
    """Python's dict repr for tuple keys and int values."""
    return "{" + ", ".join([f"{key_repr(k)}: {v}" for k, v in zip(keys, values)]) + "}"


def _keys(rng: np.random.Generator, cfg: MultiSubkeyKVConfig, count: int, gold: tuple[int, ...],
          common: list[int]) -> list[tuple[int, ...]]:
    """`count` non-gold keys (Alg. 3): fresh subkeys outside the gold key, some common ones swapped in, shuffled."""
    r_min, r_max = cfg.digits
    n, c = cfg.max_key_len(), cfg.n_common
    sub = draw(rng, count * n, r_min, r_max, exclude=set(gold)).reshape(count, n)
    share = rng.random((count, c)) < cfg.p_share
    if c:
        sub[:, :c] = np.where(share, np.array(common)[None, :], sub[:, :c])
    if cfg.other_key_len is None:
        rows = rng.permuted(sub, axis=1).tolist()
    else:   # keep the first L_i columns of row i (commons included), in a uniformly random order
        lens = rng.integers(cfg.other_key_len[0], cfg.other_key_len[1] + 1, size=count)
        u = rng.random((count, n))
        u[np.arange(n)[None, :] >= lens[:, None]] = np.inf
        order = np.argsort(u, axis=1)
        rows = [sub[i, order[i, :lens[i]]].tolist() for i in range(count)]
    for i, row in enumerate(rows):
        if len(set(row)) < len(row):   # rare repeat among fresh subkeys: replace it outside the gold key and the row
            fresh = [x for x in row if x not in common]
            keep = [x for x in row if x in common]
            rows[i] = keep + unique_within(rng, fresh, r_min, r_max, set(gold) | set(keep))
    return [tuple(r) for r in rows]


def _dictionaries(rng, cfg, lens: list[int], gold, common, gold_value: int) -> list[tuple[list, list]]:
    """Dictionaries of the given lengths, all keys and values drawn in one vectorised batch."""
    total = sum(lens)
    keys = _keys(rng, cfg, total, gold, common)
    values = draw(rng, total, *cfg.digits, exclude=gold_value).tolist()
    out, start = [], 0
    for length in lens:
        ks = keys[start:start + length]
        if len(set(ks)) < length:   # two equal tuples in one dictionary: redraw the later ones
            seen, fixed = set(), []
            for k in ks:
                for _ in range(MAX_REDRAWS):   # a repeat has probability ~1e-8 at 3-4 digits
                    if k not in seen:
                        break
                    k = _keys(rng, cfg, 1, gold, common)[0]
                else:
                    raise ConfigError(f"could not draw {length} distinct keys for one dictionary; widen digits")
                seen.add(k)
                fixed.append(k)
            ks = fixed
        out.append((ks, values[start:start + length]))
        start += length
    return out


def _distractor_block(cfg, gold, common, gold_value):
    l_min, l_max = cfg.dict_len

    def make(rng: np.random.Generator, count: int) -> list[str]:
        lens = rng.integers(l_min, l_max + 1, size=count).tolist()
        return [body(k, v) for k, v in _dictionaries(rng, cfg, lens, gold, common, gold_value)]

    return make


def shuffled_subkeys(rng: np.random.Generator, gold: tuple[int, ...], differ: bool = False) -> tuple[int, ...]:
    """The question's subkeys in a uniformly chosen order: any order (the authors' shuffle), or with
    `differ` one other than the gold key's own (when one exists)."""
    perms = [p for p in itertools.permutations(range(len(gold))) if not differ or list(p) != list(range(len(gold)))]
    if not perms:
        return gold
    perm = perms[int(rng.integers(len(perms)))]
    return tuple(gold[i] for i in perm)


def question(subkeys: tuple[int, ...], template: bool) -> str:
    s = ", ".join(map(str, subkeys))
    q = QUESTION.format(subkeys=s)
    return q + TEMPLATE_INTRO + TEMPLATE.format(subkeys=s) if template else q


def generate(cfg: MultiSubkeyKVConfig, rng: np.random.Generator, count_tokens: TokenCount | None = None) -> Sample:
    (l_min, l_max), (r_min, r_max) = cfg.dict_len, cfg.digits
    gold_len = cfg.gold_dict_len if cfg.gold_dict_len is not None else int(rng.integers(l_min, l_max + 1))
    gold = tuple(unique_within(rng, draw(rng, cfg.n_keys, r_min, r_max).tolist(), r_min, r_max, set()))
    gold_value = int(draw(rng, 1, r_min, r_max)[0])
    common = [gold[i] for i in sorted(rng.choice(cfg.n_keys, size=cfg.n_common, replace=False).tolist())]
    keys, values = _dictionaries(rng, cfg, [gold_len - 1], gold, common, gold_value)[0]
    slot = int(rng.integers(gold_len))
    keys.insert(slot, gold)
    values.insert(slot, gold_value)
    asked = shuffled_subkeys(rng, gold, differ=cfg.question_order == "differ")
    prompt, pos, n, tokens = assemble(cfg, rng, body(keys, values), _distractor_block(cfg, gold, common, gold_value),
                                      question(asked, cfg.template),
                                      count_tokens)
    subkeys = ", ".join(map(str, asked))
    return Sample(
        task=NAME, prompt=prompt,
        answer=ANSWER.format(subkeys=subkeys, key=key_repr(gold), value=gold_value, dict=pos),
        meta={"gold_key": list(gold), "question_subkeys": list(asked), "gold_value": gold_value,
              "gold_dict": pos, "num_dict": n, "depth": depth_of(prompt, pos), "n_tokens": tokens,
              "template": cfg.template, "common_subkeys": common, "n_common": cfg.n_common,
              "question_order": cfg.question_order})

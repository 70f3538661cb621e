"""Simple dictionary key-value retrieval (paper §2, Fig. 1/3, Alg. 1-2; REFERENCE.md §1)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...config import ConfigError
from ..base import Sample, TokenCount
from .common import TEMPLATE_INTRO, KVCommon, assemble
from ..numbers import draw, unique_within

NAME = "simple_kv"
QUESTION = ("Above is a list of dictionaries such that each key and value is an integer. "
            "Report the value of key {key} and the dictionary it is in.")
ANSWER = "The value of key {key} is {value} and it is in Dictionary [{dict}]."
TEMPLATE = ANSWER.format(key="{key}", value="<fill-in-value>", dict="<fill-in-dictionary-name>")


@dataclass
class SimpleKVConfig(KVCommon):
    gold_dict_len: int | None = field(default=3, metadata={
        "help": "Pairs in the gold dictionary: the authors' released config fixes it at 3; null: drawn from "
                "dict_len (Alg. 2)."})

    def validate(self) -> None:
        self.validate_common(min_keys_per_prompt=1)
        if self.gold_dict_len is not None and self.gold_dict_len < 1:
            raise ConfigError(f"gold_dict_len must be >= 1, got {self.gold_dict_len}")


def question(key: int, template: bool) -> str:
    q = QUESTION.format(key=key)
    return q + TEMPLATE_INTRO + TEMPLATE.format(key=key) if template else q


def _dedupe_keys(rng, nums: np.ndarray, lens: list[int], r_min: int, r_max: int, gold_key: int) -> np.ndarray:
    nums = nums.copy()
    start = 0
    for n in lens:
        keys = nums[start:start + 2 * n:2].tolist()
        if len(set(keys)) < n:   # replace the repeat, never redraw the block
            nums[start:start + 2 * n:2] = unique_within(rng, keys, r_min, r_max, {gold_key})
        start += 2 * n
    return nums


class _BodyFormats(dict):
    """'%d: %d, %d: %d' patterns by dictionary length: one %-format renders a whole dictionary."""
    def __missing__(self, n: int) -> str:
        self[n] = "{" + ", ".join(["%d: %d"] * n) + "}"
        return self[n]


_BODY = _BodyFormats()


def body(keys: list[int], values: list[int]) -> str:
    """Python's dict repr for int keys and values."""
    return "{" + ", ".join([f"{k}: {v}" for k, v in zip(keys, values)]) + "}"


def _distractor_block(cfg: SimpleKVConfig, gold_key: int, gold_value: int):
    (l_min, l_max), (r_min, r_max) = cfg.dict_len, cfg.digits

    def make(rng: np.random.Generator, count: int) -> list[str]:
        if count == 0:
            return []
        lens = rng.integers(l_min, l_max + 1, size=count)
        total = int(lens.sum())
        # Keys and values interleaved in one vectorised draw: keys avoid the gold key, values the gold value.
        exclude = np.empty(2 * total, dtype=np.int64)
        exclude[0::2], exclude[1::2] = gold_key, gold_value
        nums = draw(rng, 2 * total, r_min, r_max, exclude=exclude)
        tagged = np.sort(np.repeat(np.arange(count), lens) * 10**r_max + nums[0::2])   # (dictionary, key)
        if (tagged[1:] == tagged[:-1]).any():   # rare: a key repeats inside a dictionary
            nums = _dedupe_keys(rng, nums, lens.tolist(), r_min, r_max, gold_key)
        lens = lens.tolist()
        # One %-format over the whole block, split back into dictionaries (C-speed rendering).
        text = "\x00".join([_BODY[n] for n in lens]) % tuple(nums.tolist())
        return text.split("\x00")

    return make


def generate(cfg: SimpleKVConfig, rng: np.random.Generator, count_tokens: TokenCount | None = None) -> Sample:
    (l_min, l_max), (r_min, r_max) = cfg.dict_len, cfg.digits
    gold_len = cfg.gold_dict_len if cfg.gold_dict_len is not None else int(rng.integers(l_min, l_max + 1))
    gold_key, gold_value = draw(rng, 2, r_min, r_max).tolist()
    exclude = np.empty(2 * (gold_len - 1), dtype=np.int64)
    exclude[0::2], exclude[1::2] = gold_key, gold_value
    others = draw(rng, 2 * (gold_len - 1), r_min, r_max, exclude=exclude).tolist()
    other_values = others[1::2]
    others = unique_within(rng, others[::2], r_min, r_max, {gold_key})
    slot = int(rng.integers(gold_len))   # where the gold pair sits inside its dictionary (Alg. 2 shuffles)
    keys = others[:slot] + [gold_key] + others[slot:]
    values = other_values[:slot] + [gold_value] + other_values[slot:]
    tail = question(gold_key, cfg.template)
    prompt, pos, n, tokens = assemble(cfg, rng, body(keys, values), _distractor_block(cfg, gold_key, gold_value), tail,
                                      count_tokens)
    return Sample(
        task=NAME, prompt=prompt, answer=ANSWER.format(key=gold_key, value=gold_value, dict=pos),
        meta={"gold_key": gold_key, "gold_value": gold_value, "gold_dict": pos, "num_dict": n,
              "depth": depth_of(prompt, pos), "n_tokens": tokens, "template": cfg.template})


def depth_of(prompt: str, pos: int) -> float:
    """Where the gold dictionary line starts, as a fraction of the prompt's characters."""
    return round(prompt.index(f"Dictionary [{pos}] ") / len(prompt), 6)

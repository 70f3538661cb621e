"""Shared by both dictionary retrieval tasks: the prompt frame, gold placement and token budgets.

A prompt is HEAD + one line per dictionary + "\n\n" + a task-specific question (the tail). Distractor
dictionaries come from an endless, prefix-stable stream (blocks with their own derived generators), so
"the first m distractors" means the same dictionaries whatever m the budget search ends on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...config import ConfigError
from .. import position_bias as bias_modes
from ..base import BudgetExceeded, TokenCount, count_under_max
from ..numbers import space_size

HEAD = "Do a task using the list of dictionaries below.\n\n"
TEMPLATE_INTRO = " Answer in the following template:\n"
DEFAULT_NUM_DICT = 85
MAX_PROMPT_TOKENS = 10_000_000   # past the longest context any model offers: a size beyond it is a typo
BIAS_FIRST, BIAS_NEAR_FIRST, NEAR_FIRST = 0.05, 0.03, 5   # position_bias='independent' (see position_bias.py)
BLOCK = 32


@dataclass
class KVCommon:
    """Settings both dictionary tasks share (mixed into each task's config)."""
    num_dict: int | None = field(default=None, metadata={
        "help": "Dictionaries per prompt; null: 85 (49 for multi-subkey presets), or what target_tokens fills."})
    dict_len: tuple[int, int] = field(default=(3, 4), metadata={
        "help": "[l_min, l_max]: key-value pairs per dictionary."})
    digits: tuple[int, int] = field(default=(3, 4), metadata={"help": "[r_min, r_max]: digits of keys and values."})
    template: bool = field(default=True, metadata={"help": "Append the answer template to the question."})
    gold_position: str | int | list[int] = field(default="uniform", metadata={
        "help": "Where the gold dictionary sits: 'uniform', a 1-based dictionary index, or a list swept by sample "
                "index."})
    gold_depth: float | list[float] | None = field(default=None, metadata={
        "help": "Alternative to gold_position: the fraction of the way through (0 first, 1 last); a list is swept "
                "by sample index."})
    position_bias: bool | str = field(default=False, metadata={
        "help": "Gold positions as the authors drew them: false | \"exact\" (their counts by sample index) | "
                "\"independent\" (or true)."})
    max_tokens: int | None = field(default=None, metadata={
        "help": "Draws whose prompt exceeds this many tokens are rejected (the paper: 4,096; null: no limit)."})
    target_tokens: int | None = field(default=None, metadata={
        "help": "Choose the number of dictionaries that fills this token budget (needs a tokenizer)."})

    def validate_common(self, min_keys_per_prompt: int) -> None:
        l_min, l_max = self.dict_len
        r_min, r_max = self.digits
        if l_min < 1 or l_min > l_max:
            raise ConfigError(f"dict_len: need 1 <= l_min <= l_max, got {list(self.dict_len)}")
        if r_min < 1 or r_min > r_max or r_max > 15:
            raise ConfigError(f"digits: need 1 <= r_min <= r_max <= 15, got {list(self.digits)}")
        if self.target_tokens is not None and self.num_dict is not None:
            raise ConfigError("num_dict and target_tokens are both set; target_tokens chooses the number of "
                              "dictionaries, so leave num_dict unset (null)")
        if self.target_tokens is not None and self.max_tokens is not None:
            raise ConfigError("max_tokens and target_tokens are both set; use one budget")
        for name in ("num_dict", "max_tokens", "target_tokens"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ConfigError(f"{name} must be positive, got {v}")
        for name in ("max_tokens", "target_tokens"):
            v = getattr(self, name)
            if v is not None and v > MAX_PROMPT_TOKENS:
                raise ConfigError(f"{name}={v:,} is beyond any model's context (over {MAX_PROMPT_TOKENS:,} tokens)")
        n = self.effective_num_dict()
        if n is not None and n * l_max > MAX_PROMPT_TOKENS // 4:   # a pair is at least ~4 tokens ("1: 2, ")
            raise ConfigError(f"num_dict={n:,} x dict_len up to {l_max} is {n * l_max:,} key-value pairs in one "
                              f"prompt, beyond any model's context (over {MAX_PROMPT_TOKENS:,} tokens); choose a "
                              "smaller num_dict, or target_tokens for a budget")
        space = space_size(r_min, r_max)
        if n is not None and space < n * l_max * min_keys_per_prompt:
            raise ConfigError(
                f"digits={list(self.digits)} give only {space} distinct numbers, fewer than the "
                f"{n * l_max * min_keys_per_prompt} keys of {n} dictionaries x {l_max} keys; keys could not stay "
                f"distinct enough for retrieval to be meaningful: widen digits or shrink num_dict/dict_len")
        if space < 2:
            raise ConfigError(f"digits={list(self.digits)}: need at least 2 numbers so distractor values differ from the gold value")
        for p in gold_positions(self.gold_position, self.gold_depth, "the gold dictionary"):
            if isinstance(p, int) and (p < 1 or (n is not None and p > n)):
                raise ConfigError(f"gold_position {p} is outside dictionaries 1..{n}")
        bias_modes.validate(self.position_bias)
        if self.position_bias and (self.gold_position != "uniform" or self.gold_depth is not None):
            raise ConfigError("position_bias only applies to gold_position='uniform'")

    def effective_num_dict(self) -> int | None:
        if self.target_tokens is not None:
            return None
        return self.num_dict if self.num_dict is not None else DEFAULT_NUM_DICT


def gold_positions(gold_position, gold_depth, what: str) -> list:
    """Check the placement settings every task with a position axis shares; the positions, one per sweep step."""
    if gold_depth is not None and gold_position != "uniform":
        raise ConfigError(f"gold_position and gold_depth are both set; choose one way to place {what}")
    depths = gold_depth if isinstance(gold_depth, list) else [gold_depth]
    if any(d is not None and not 0.0 <= d <= 1.0 for d in depths):
        raise ConfigError(f"gold_depth must lie in [0, 1], got {gold_depth}")
    positions = gold_position if isinstance(gold_position, list) else [gold_position]
    if not positions:
        raise ConfigError("gold_position: an empty list places nothing")
    for p in positions:
        if isinstance(p, str) and p != "uniform":
            raise ConfigError(f"gold_position must be 'uniform', an index or a list of indices, got {p!r}")
    return positions


_NAMES = [f"Dictionary [{i}] " for i in range(1, 1025)]


def render_dicts(bodies: list[str]) -> str:
    if len(bodies) > len(_NAMES):
        _NAMES.extend(f"Dictionary [{i}] " for i in range(len(_NAMES) + 1, len(bodies) + 1))
    return "\n".join(map(str.__add__, _NAMES, bodies))


def build_prompt(bodies: list[str], tail: str) -> str:
    return HEAD + render_dicts(bodies) + "\n\n" + tail


def choose_position(cfg: KVCommon, rng: np.random.Generator, n: int) -> int:
    """1-based index of the gold dictionary among n (list policies were resolved per sample earlier)."""
    if cfg.gold_depth is not None:
        return 1 + int(round(float(cfg.gold_depth) * (n - 1)))
    if isinstance(cfg.gold_position, int):
        if cfg.gold_position > n:
            raise ConfigError(f"gold_position {cfg.gold_position} is beyond the {n} dictionaries that fit the budget")
        return cfg.gold_position
    if cfg.position_bias == "exact":
        raise ConfigError("position_bias 'exact' assigns positions by sample index over the whole dataset; "
                          "generate through needlework.tasks.files.dataset.SampleMaker (needlework generate)")
    independent = bias_modes.is_independent(cfg.position_bias)
    u = rng.random()
    if independent and u < BIAS_FIRST:
        return 1
    if independent and u < BIAS_FIRST + BIAS_NEAR_FIRST:
        return 1 + int(rng.integers(min(NEAR_FIRST, n)))
    return 1 + int(rng.integers(n))


MakeBlock = Callable[[np.random.Generator, int], list[str]]


class DistractorStream:
    """Prefix-stable distractor bodies: block b is drawn from its own generator derived from one base draw."""

    def __init__(self, rng: np.random.Generator, make_block: MakeBlock):
        self._base = int(rng.integers(2**62))
        self._make_block = make_block
        self._bodies: list[str] = []

    def take(self, m: int) -> list[str]:
        while len(self._bodies) < m:
            block_rng = np.random.default_rng([self._base, len(self._bodies) // BLOCK])
            self._bodies.extend(self._make_block(block_rng, BLOCK))
        return self._bodies[:m]


def assemble(cfg: KVCommon, rng: np.random.Generator, gold_body: str, make_block: MakeBlock, tail: str,
             count: TokenCount | None) -> tuple[str, int, int, int | None]:
    """Lay out the prompt under the config's budget. Returns (prompt, gold position, num_dict, tokens).

    A fixed number of dictionaries draws everything from `rng` in one block (the fast path); a token
    target searches over prefixes of a DistractorStream."""
    def build(dist: list[str], pos: int) -> str:
        return build_prompt(dist[: pos - 1] + [gold_body] + dist[pos - 1:], tail)

    if cfg.target_tokens is None:
        n = cfg.effective_num_dict()
        dist = make_block(rng, n - 1)
        pos = choose_position(cfg, rng, n)
        prompt = build(dist, pos)
        tokens = count_under_max(prompt, count, cfg.max_tokens)
        return prompt, pos, n, tokens

    stream = DistractorStream(rng, make_block)
    pos_rng = np.random.default_rng([int(rng.integers(2**62)), 1])

    def layout(n: int, pos: int) -> str:
        return build(stream.take(n - 1), pos)

    if count is None:
        raise ConfigError("target_tokens needs a tokenizer to count tokens; set tokenizer")
    budget = cfg.target_tokens
    smallest = count(layout(1, 1))
    if smallest > budget:
        raise ConfigError(f"target_tokens={budget} is smaller than the fixed text plus the gold dictionary "
                          f"({smallest} tokens); raise target_tokens")
    # Exponential then binary search for the most dictionaries that fit (every dictionary adds >= 1 token,
    # so n never exceeds the budget and both searches end).
    lo, hi = 1, 2
    while hi <= budget and count(layout(hi, hi)) <= budget:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(layout(mid, mid)) <= budget else (lo, mid)
    n = lo
    for _ in range(n):   # the count may depend on where the gold sits; shrink until the placed prompt fits
        pos = choose_position(cfg, pos_rng, n)
        prompt = layout(n, pos)
        tokens = count(prompt)
        if tokens <= budget:
            return prompt, pos, n, tokens
        n -= 1
    raise BudgetExceeded(f"no layout fits target_tokens={budget}")

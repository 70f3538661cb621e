"""What every task shares: the Sample record and per-sample random streams (lookup by name: registry.py).

A task is a typed config dataclass plus a pure `generate(config, rng, count_tokens=None) -> Sample`.
Sample i is generated from `sample_rng(seed, i)` alone, so any shard of indices, in any process,
produces exactly the bytes a serial run produces.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from ..config import ConfigError

TokenCount = Callable[[str], int]   # prompt text -> tokens as the model sees it (template included)
MAX_ATTEMPTS = 16                   # budget retries per sample before the config is declared impossible


def sample_rng(seed: int, index: int, attempt: int = 0) -> np.random.Generator:
    """The random stream of sample `index`: a function of (seed, index, attempt) only."""
    return np.random.default_rng([seed, index, attempt])


@dataclass
class Sample:
    task: str
    prompt: str             # the user turn, exactly as the model reads it
    answer: str             # the target completion (loss is computed on this only)
    meta: dict[str, Any] = field(default_factory=dict)   # gold key/value/dictionary, position, depth, ...


class TaskGenerate(Protocol):
    def __call__(self, config: Any, rng: np.random.Generator, count_tokens: TokenCount | None = None) -> Sample: ...


ScoreFn = Callable[[dict, str], dict]        # (sample meta, completion text) -> {metric: value in [0, 1]}
CheckFn = Callable[[str, str, dict], None]   # (prompt, answer, meta) -> None, or raise Invalid


@dataclass(frozen=True)
class Task:
    name: str
    config_cls: type
    generate: TaskGenerate
    description: str
    needs_budget: bool = False  # True when the config has a token budget that requires a tokenizer
    # How the kv-retrieval benchmark scores this task: `score(meta, completion)` returns every name in
    # `metrics` (the headline first). A task with a score is evaluable by `eval.kv_retrieval.task`.
    score: ScoreFn | None = None
    metrics: tuple[str, ...] = ()
    read: Callable[[dict, str], Any] | None = None   # what score read out of the text, recorded beside it
    check: CheckFn | None = None        # the invariants `needlework validate` re-derives from the prompt (checks/)
    length_field: str = "num_dict"      # the config field kv-retrieval's `num_dicts` length axis sets


class Invalid(ValueError):
    """A row breaks an invariant its task's `check` re-derives from the prompt (or the file cannot be read)."""

    def __init__(self, message: str, line_no: int | None = None):
        super().__init__(message)
        self.line_no = line_no


class BudgetExceeded(ValueError):
    """This draw did not fit the token budget; the caller retries with the next attempt stream."""


def count_under_max(prompt: str, count: TokenCount | None, max_tokens: int | None) -> int | None:
    """The prompt's tokens (None without a tokenizer); a draw over `max_tokens` raises BudgetExceeded."""
    tokens = count(prompt) if count else None
    if max_tokens is not None:
        if tokens is None:
            raise ConfigError("max_tokens needs a tokenizer to count tokens; set tokenizer")
        if tokens > max_tokens:
            raise BudgetExceeded(f"{tokens} tokens > max_tokens={max_tokens}")
    return tokens


def generate_sample(task: Task, config: Any, seed: int, index: int,
                    count_tokens: TokenCount | None = None) -> Sample:
    """Sample `index`, retrying on fresh (seed, index, attempt) streams if a draw overflows its budget."""
    for attempt in range(MAX_ATTEMPTS):
        try:
            sample = task.generate(config, sample_rng(seed, index, attempt), count_tokens)
        except BudgetExceeded as e:
            last = e
            continue
        sample.meta.update(seed=seed, index=index)
        return sample
    raise ConfigError(f"{task.name}: {MAX_ATTEMPTS} draws of sample {index} all exceeded the token budget "
                      f"({last}); lower num_dict or use target_tokens instead of max_tokens")

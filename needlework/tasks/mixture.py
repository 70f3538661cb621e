"""Training-data mixtures: several tasks (and a user's own chat JSONL) in one file, by weight, at one budget.

A mixture is `task: mixture` plus a list of components, each `{task, weight, params, name}`:

    task: mixture
    n: 512
    params: {target_tokens: 600}          # shared by every component whose settings have the key (one budget)
    mixture:
      - {task: simple_kv, weight: 3}
      - {task: multi_subkey_kv, weight: 1, params: {num_dict: 4}}
      - {task: released_qa, weight: 1, params: {format: in2, path: my_sft.jsonl}}   # a user's {messages} JSONL

Determinism (sample i depends only on (seed, i)): sample i's component is chosen by the i-th draw u_i of a
stream keyed by the seed alone (`choices`), and it is that component's r-th sample, r = how many of samples
0..i-1 chose it, generated exactly as `generate` would generate sample r of that task on the component's own
seed (`component_seed`). Shards therefore concatenate to the serial file, and each component's rows are a
prefix of what a pure run of that task on its seed writes. Component seeds are derived from (seed, k), so two
components of one task (e.g. with and without the template) never repeat each other's draws.

This module plans a mixture (settings, choices, seeds); tasks.files.dataset wires it into SampleMaker.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import ConfigError
from .registry import get_task, task_key

NAME = "mixture"
CHOICE_STREAM = 0x5EED_313   # tags the component-choice stream apart from every sample stream
SEED_STREAM = 0x5EED_5EED    # tags the derivation of each component's seed


@dataclass
class MixComponent:
    task: str = field(default="", metadata={"help": "A registered task (see `needlework tasks`)."})
    weight: float = field(default=1.0, metadata={"help": "Relative share of the samples (> 0)."})
    params: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "That task's settings (over the shared `params`)."})
    name: str | None = field(default=None, metadata={"help": "Label in provenance and the data card."})


def component_names(mixture: list[MixComponent]) -> list[str]:
    """The given names, else the task name (numbered when a task appears more than once)."""
    tasks = [get_task(c.task).name for c in mixture]
    out = []
    for k, (c, t) in enumerate(zip(mixture, tasks)):
        out.append(c.name or (t if tasks.count(t) == 1 else f"{t}#{k}"))
    return out


def validate_mixture(mixture: list[MixComponent], shared: dict[str, Any]) -> None:
    """Reject an empty mixture, unknown tasks, nested mixtures, weights <= 0, repeated names, and shared
    params that no component knows (each component's own settings are checked with its task's config)."""
    if not mixture:
        raise ConfigError("mixture: task is 'mixture' but no components are listed; give a list of "
                          "{task, weight, params} (see needlework/tasks/mixture.py)")
    known: set[str] = set()
    for k, c in enumerate(mixture):
        if not c.task:
            raise ConfigError(f"mixture[{k}].task: name the component's task")
        if task_key(c.task) == NAME:
            raise ConfigError(f"mixture[{k}].task: a mixture cannot contain a mixture")
        try:
            task = get_task(c.task)
        except ConfigError as e:
            raise ConfigError(f"mixture[{k}].task: {e}") from None
        if not (isinstance(c.weight, (int, float)) and c.weight > 0 and np.isfinite(c.weight)):
            raise ConfigError(f"mixture[{k}].weight must be a positive number, got {c.weight!r}")
        known |= {f.name for f in dataclasses.fields(task.config_cls)}
    names = component_names(mixture)
    if len(set(names)) != len(names):
        raise ConfigError(f"mixture: component names repeat ({', '.join(names)}); give each a distinct `name`")
    unknown = sorted(set(shared) - known)
    if unknown:
        raise ConfigError(f"params.{unknown[0]}: no component of the mixture has this setting (shared params "
                          f"apply to every component that has them)")


def merged_params(mixture: list[MixComponent], shared: dict[str, Any], k: int) -> dict[str, Any]:
    """Component k's settings: the shared params its task knows, overridden by its own."""
    fields = {f.name for f in dataclasses.fields(get_task(mixture[k].task).config_cls)}
    return {**{key: v for key, v in shared.items() if key in fields}, **mixture[k].params}


def shares(mixture: list[MixComponent]) -> list[float]:
    total = float(sum(c.weight for c in mixture))
    return [c.weight / total for c in mixture]


def choices(seed: int, n: int, mixture: list[MixComponent]) -> tuple[np.ndarray, np.ndarray]:
    """(component of each sample, its index within that component) for samples 0..n-1.

    u_i is the i-th draw of one stream keyed by the seed, so the choice of sample i is the same whatever n is
    (numpy fills `random(n)` in order: a prefix of a longer draw)."""
    u = np.random.default_rng([seed, CHOICE_STREAM]).random(n)
    edges = np.cumsum(shares(mixture))
    edges[-1] = 1.0   # rounding must not leave a sliver of [0, 1) to no component
    comp = np.searchsorted(edges, u, side="right")
    rank = np.empty(n, dtype=np.int64)
    for k in range(len(mixture)):
        picked = comp == k
        rank[picked] = np.arange(int(picked.sum()))
    return comp, rank


def component_seed(seed: int, k: int) -> int:
    """Component k's own seed, a function of (seed, k) only."""
    return int(np.random.SeedSequence([seed, k, SEED_STREAM]).generate_state(1)[0])

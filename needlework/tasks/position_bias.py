"""The gold-position bias of the authors' released generator (generate_dataset.py, configs `..._5_3.yaml`).

`position_bias` on a KV task config:
  false          -- none: the gold dictionary is uniform over all dictionaries (Alg. 2).
  "exact"        -- the authors' scheme, with exact counts over the dataset of n samples: int(0.05 n) samples
                    (frac_0) put the gold dictionary first, and int(0.03 n) others (frac_top5) put it among the
                    first int(0.05 n) dictionaries -- the authors' range depends on the number of samples, not
                    of dictionaries (17 for n=350), capped at the number of dictionaries. The rest are uniform.
  "independent"  -- each sample draws on its own: 5% first, 3% among dictionaries 1-5, else uniform
  (or true)         (needlework's earlier approximation; counts vary around 5%/3%).

"exact" is decided by sample index: which indices are forced is a permutation of range(n) drawn from the
seed alone, and a forced sample's dictionary comes from a generator of (seed, index). Every shard therefore
computes the same assignment, and `--shard K/N` files still concatenate to the serial file byte for byte.
The assignment depends on n: a 100-sample file is not a prefix of the 350-sample one's bias pattern.
"""
from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any

import numpy as np

from ..config import ConfigError

FRAC_FIRST, FRAC_NEAR_FIRST = 0.05, 0.03   # the authors' frac_0 and frac_top5
MODES = (False, True, "exact", "independent")
_TAG = 0x5F3   # keeps the bias's generators apart from the samples' own streams


def validate(value: Any) -> None:
    if value not in MODES:
        raise ConfigError(f"position_bias must be false, 'exact' (the authors' exact counts) or 'independent' "
                          f"(true: a per-sample draw), got {value!r}")


def is_independent(value: Any) -> bool:
    return value is True or value == "independent"


@lru_cache(maxsize=8)
def _assignment(seed: int, n: int) -> tuple[frozenset[int], frozenset[int]]:
    """(indices forced first, indices forced near-first) for a dataset of n samples."""
    order = np.random.default_rng([seed, _TAG]).permutation(n).tolist()
    n_first, n_near = int(n * FRAC_FIRST), int(n * FRAC_NEAR_FIRST)
    return frozenset(order[:n_first]), frozenset(order[n_first:n_first + n_near])


def near_first_range(n: int, num_dict: int | None) -> int:
    """How many leading dictionaries count as near-first: int(0.05 n), at least 1, at most num_dict."""
    k = max(1, int(n * FRAC_FIRST))
    return min(k, num_dict) if num_dict else k


def resolve(task_cfg: Any, seed: int, index: int, n: int) -> Any:
    """Sample `index`'s config under the exact scheme: a fixed gold_position when forced, else no bias."""
    if getattr(task_cfg, "position_bias", False) != "exact":
        return task_cfg
    first, near = _assignment(seed, n)
    if index in first:
        pos: Any = 1
    elif index in near:
        k = near_first_range(n, task_cfg.effective_num_dict())
        pos = 1 + int(np.random.default_rng([seed, _TAG, index]).integers(k))
    else:
        pos = "uniform"
    return dataclasses.replace(task_cfg, position_bias=False, gold_position=pos)

"""Data-parallel evaluation under a multi-process launch (accelerate launch / torchrun): every rank generates.

Each rank takes every world-th item of each generating benchmark (item i goes to rank i mod world: the same
split on every run) and writes its completions to its own `cache.rank<r>.jsonl`, then a `rank<r>.filled`
marker. Rank 0 waits for every marker of this launch, merges the ranks' caches into `cache.jsonl`, and scores
from the cache exactly as a single process does, so results.json and samples.jsonl are the single-process ones
(byte for byte where the completions are; a GPU's bf16 kernels may break a tie differently in another batch).
Self-driven benchmarks (lm-eval) and servers (backend openai) stay on rank 0. Files only: no collective call
that a rank could miss, and a rank that dies ends the launch (torchrun stops the others).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ..io import atomic_open
from .cache import CompletionCache


def launch_token(identity: str) -> str:
    """What every rank of one launch writes into its marker (a stale marker of an earlier launch never counts)."""
    return f"{identity}|{os.environ.get('TORCHELASTIC_RUN_ID') or os.environ.get('MASTER_PORT', '')}"


def share(items: list, world: int, rank: int) -> list[int]:
    """Indices of the items this rank generates."""
    return list(range(rank, len(items), world))


def rank_cache(out: Path, rank: int, main: CompletionCache) -> CompletionCache:
    """This rank's cache; what the merged cache already holds counts as done (a resumed launch skips it)."""
    cache = CompletionCache(out / f"cache.rank{rank}.jsonl")
    cache.rows = {**main.rows, **cache.rows}
    return cache


def mark_filled(out: Path, rank: int, token: str, counts: dict[str, int]) -> None:
    with atomic_open(out / f"rank{rank}.filled") as f:
        f.write(token + "\n")
    print(f"needlework eval: rank {rank} generated its share: "
          + ", ".join(f"{b} {n}" for b, n in counts.items()), file=sys.stderr)


def wait_and_merge(out: Path, world: int, token: str, main: CompletionCache, poll_s: float = 1.0) -> None:
    """Rank 0: wait until every rank of this launch has filled its share, then merge their caches into `main`."""
    markers = [out / f"rank{r}.filled" for r in range(world)]
    while not all(m.exists() and m.read_text().strip() == token for m in markers):
        time.sleep(poll_s)
    for r in range(world):
        part = CompletionCache(out / f"cache.rank{r}.jsonl")
        for key, row in part.rows.items():
            if key not in main:
                main.put(key, {k: v for k, v in row.items() if k != "key"})
    for r in range(world):
        (out / f"cache.rank{r}.jsonl").unlink(missing_ok=True)
        markers[r].unlink(missing_ok=True)

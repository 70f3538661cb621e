"""Benchmarks by name. Each is one module that builds items, renders prompts and scores outputs (types in
base.py). The runner does everything else (context checks, caching, batching, aggregation), identically for all
of them. `general` (lm-evaluation-harness) drives the model itself through the one adapter `base.SelfDriven`
and hands the runner scored rows, which are aggregated and written like every other benchmark's.
"""
from __future__ import annotations

from ..config import ConfigError
from . import kv_retrieval, mdqa, transfer
from .flenqa import flenqa
from .general import general
from .base import Benchmark


def _benchmarks() -> dict[str, Benchmark]:
    out = {}
    for b in (kv_retrieval.BENCHMARK, mdqa.BENCHMARK, flenqa.BENCHMARK, flenqa.BENCHMARK_COT, general.BENCHMARK,
              transfer.BENCHMARK):
        out[b.name] = b
    return out


def all_benchmarks() -> dict[str, Benchmark]:
    return _benchmarks()


def get_benchmark(name: str) -> Benchmark:
    known = _benchmarks()
    key = name.strip().replace("_", "-")
    if key not in known:
        raise ConfigError(f"unknown benchmark {name!r}; known benchmarks: {', '.join(known)}")
    return known[key]

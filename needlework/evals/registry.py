"""Benchmarks by name. Each is one module that builds items, renders prompts and scores outputs, and ends in one
`Benchmark` record (types in base.py): its settings class, its plan estimate where items are not built ahead,
and how the report shows it. The runner does everything else (context checks, caching, batching, aggregation),
identically for all of them. `general` (lm-evaluation-harness) drives the model itself through the one adapter
`base.SelfDriven` and hands the runner scored rows, which are aggregated and written like every other
benchmark's.

Adding a benchmark is its module, one line in BENCHMARKS (`needlework eval --help`, the plan's estimate and the
report all read this tuple) and its settings field in EvalConfig (evals/eval_config.py; a test checks the two agree).
"""
from __future__ import annotations

from ..config import ConfigError
from . import family_matrix, kv_retrieval, mdqa
from .base import Benchmark
from .flenqa import benchmark as flenqa
from .general import benchmark as general
from .suite import associative_needle, records, ruler_needles, sciq_passages, squad_passages

BENCHMARKS: tuple[Benchmark, ...] = (kv_retrieval.BENCHMARK, mdqa.BENCHMARK, flenqa.BENCHMARK, flenqa.BENCHMARK_COT,
                                     general.BENCHMARK, family_matrix.BENCHMARK,
                                     # the transfer suite (issue 30)
                                     squad_passages.BENCHMARK, sciq_passages.BENCHMARK, records.BENCHMARK,
                                     associative_needle.BENCHMARK, ruler_needles.BENCHMARK)

# names benchmarks had before, refused with the name they have now (never mapped silently): as a benchmark name,
# and as EvalConfig's settings section (read by config.from_dict through EvalConfig.RENAMED)
RENAMED = {"transfer": "family-matrix"}
RENAMED_SECTIONS = {"transfer": "family_matrix (the benchmark transfer is now family-matrix)"}


def benchmark_key(name: str) -> str:
    """The one spelling of a benchmark's name: kebab-case (`kv_retrieval` and `kv-retrieval` name one benchmark;
    its settings section is the snake_case field the record names)."""
    return name.strip().replace("_", "-")


def all_benchmarks() -> dict[str, Benchmark]:
    return {b.name: b for b in BENCHMARKS}


def get_benchmark(name: str) -> Benchmark:
    known = all_benchmarks()
    key = benchmark_key(name)
    if key in RENAMED:
        raise ConfigError(f"benchmark {name!r} is now {RENAMED[key]!r}")
    if key not in known:
        raise ConfigError(f"unknown benchmark {name!r}; known benchmarks: {', '.join(known)}")
    return known[key]


def sections() -> dict[str, type]:
    """EvalConfig's settings sections in registry order: {field name: settings class}. Variants of one benchmark
    (flenqa, flenqa-cot) share a section and so must share its class."""
    out: dict[str, type] = {}
    for b in BENCHMARKS:
        if b.name != benchmark_key(b.name):
            raise ConfigError(f"benchmark {b.name!r}: names are kebab-case ({benchmark_key(b.name)!r})")
        if out.setdefault(b.section, b.settings) is not b.settings:
            raise ConfigError(f"benchmark {b.name!r}: section {b.section!r} already holds {out[b.section].__name__}")
    return out

"""EvalConfig is an ordinary dataclass whose benchmark sections are written out; the registry stays the one list of
benchmarks, so this test holds the two together: a benchmark registered without its EvalConfig field (or a field
left behind by a removed benchmark) fails here, naming it."""
from __future__ import annotations

import dataclasses
import typing

from needlework.evals import eval_config
from needlework.evals.eval_config import EvalConfig
from needlework.evals.registry import sections

SHARED = ("model", "backend", "benchmarks", "seed", "out", "batch_size", "limit", "companion")


def test_its_benchmark_fields_are_exactly_the_registry_sections_with_their_classes():
    hints = typing.get_type_hints(EvalConfig, vars(eval_config))
    fields = [f.name for f in dataclasses.fields(EvalConfig) if f.name not in SHARED]
    assert fields == list(sections()), "EvalConfig's benchmark fields differ from registry.sections()"
    for name, cls in sections().items():
        assert hints[name] is cls, f"EvalConfig.{name} is {hints[name]}, the registry says {cls.__name__}"
        assert isinstance(getattr(EvalConfig(), name), cls)


def test_it_is_an_ordinary_dataclass_defined_in_its_module():
    assert EvalConfig.__module__ == "needlework.evals.eval_config"
    assert "mdqa" in EvalConfig.__dataclass_fields__ and "mdqa" in EvalConfig.__annotations__


def test_identity_counts_only_the_sections_of_the_benchmarks_run():
    """A result's identity must not change when a benchmark it did not run is added, renamed or re-set."""
    base = EvalConfig(model="m", benchmarks=["mdqa"])
    other = EvalConfig(model="m", benchmarks=["mdqa"])
    other.records.n = base.records.n + 7               # a section of a benchmark not run
    assert base.identity() == other.identity()
    assert "mdqa" in base.identity() and "records" not in base.identity()
    other.mdqa.n = base.mdqa.n + 1                     # a section of a benchmark run
    assert base.identity() != other.identity()

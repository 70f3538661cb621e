"""EvalConfig: what `needlework eval` runs, the shared settings and one settings section per benchmark.

An ordinary dataclass, so IDEs and type checkers see `cfg.mdqa` and its siblings. Its benchmark sections are the
registry's (each record's `section` and `settings` class in registry.BENCHMARKS):
tests/evals/test_eval_config.py checks the two agree, so a new benchmark adds its one field here.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from ..backends import BackendConfig
from ..config import ConfigError, from_dict, refuse_overlap
from ..io import to_jsonable
from .companion import LOGLIK_KINDS
from .registry import RENAMED_SECTIONS, get_benchmark, sections
from .flenqa.benchmark import FLenQAConfig
from .general.benchmark import GeneralConfig
from .kv_retrieval import KVRetrievalConfig
from .mdqa import MDQAConfig
from .suite.associative_needle import AssociativeNeedleConfig
from .suite.records import RecordsConfig
from .suite.ruler_needles import RulerNeedlesConfig
from .suite.sciq_passages import SciqPassagesConfig
from .suite.squad_passages import SquadPassagesConfig
from .family_matrix import FamilyMatrixConfig


def _section(cls: type, benchmarks: str):
    """A benchmark's settings section: its class's defaults, its help naming the benchmark(s) it configures."""
    return field(default_factory=cls, metadata={"help": f"Settings of {benchmarks}."})


@dataclass
class EvalConfig:
    """What `needlework eval` runs: the shared settings, then one settings section per registered benchmark (its
    record's `section` and `settings` class in registry.BENCHMARKS; tests/evals/test_eval_config.py checks that
    these fields are exactly the registry's sections, so a new benchmark adds its field here)."""
    model: str = field(default="", metadata={"help": "The model to evaluate: a local HF folder, a bundled model name "
                                                     "or a server's model name."})
    backend: BackendConfig = field(default_factory=BackendConfig,
                                   metadata={"help": "How the model is reached (kind, url, batching, ...)."})
    benchmarks: list[str] = field(default_factory=lambda: ["kv-retrieval"],
                                  metadata={"help": "The benchmarks to run, by name (`needlework eval --help` lists "
                                                    "them)."})
    seed: int = field(default=0, metadata={"help": "Seed of every benchmark's item draw (item i depends only on "
                                                   "(seed, i))."})
    out: str = field(default="runs/eval", metadata={"help": "Output folder (results.json, samples.jsonl, "
                                                            "cache.jsonl, config.yaml)."})
    batch_size: int = field(default=8, metadata={"help": "Requests sent to the backend together."})
    limit: int | None = field(default=None, metadata={"help": "Only the first N items of each bucket (smoke runs: "
                                                              "every bucket still shows); null: all."})
    companion: Literal["auto"] | bool = field(
        default="auto", metadata={"help": "Companion measures (context gain, preference; evals/companion.py) of "
                                          "benchmarks with a contrast: auto where the backend has log-likelihoods "
                                          "(hf), else skipped with a note; true: required; false: never."})
    # one section per registered benchmark, in registry order
    kv_retrieval: KVRetrievalConfig = _section(KVRetrievalConfig, "the benchmark kv-retrieval")
    mdqa: MDQAConfig = _section(MDQAConfig, "the benchmark mdqa")
    flenqa: FLenQAConfig = _section(FLenQAConfig, "the benchmarks flenqa and flenqa-cot")
    general: GeneralConfig = _section(GeneralConfig, "the benchmark general")
    family_matrix: FamilyMatrixConfig = _section(FamilyMatrixConfig, "the benchmark family-matrix")
    squad_passages: SquadPassagesConfig = _section(SquadPassagesConfig, "the benchmark squad-passages")
    sciq_passages: SciqPassagesConfig = _section(SciqPassagesConfig, "the benchmark sciq-passages")
    records: RecordsConfig = _section(RecordsConfig, "the benchmark records")
    associative_needle: AssociativeNeedleConfig = _section(AssociativeNeedleConfig, "the benchmark associative-needle")
    ruler_needles: RulerNeedlesConfig = _section(RulerNeedlesConfig, "the benchmark ruler-needles")

    RENAMED: ClassVar[dict[str, str]] = RENAMED_SECTIONS   # eval.transfer: refused, naming eval.family_matrix

    def __post_init__(self) -> None:
        if isinstance(self.backend, dict):   # a Python caller's mapping: checked like a YAML section
            self.backend = from_dict(BackendConfig, self.backend, "backend")
        if not self.backend.model:           # the backend serves the model under evaluation
            self.backend = dataclasses.replace(self.backend, model=self.model)

    def identity(self) -> dict:
        """What decides the results: every setting but where they are written, with the backend's identity. Only
        the sections of the benchmarks run count, so adding (or renaming) a benchmark leaves other results valid."""
        d = to_jsonable(self)
        del d["out"]
        used = {get_benchmark(b).section for b in self.benchmarks}
        for section in sections():
            if section not in used:
                del d[section]
        return {**d, "backend": self.backend.identity()}

    def validate(self) -> None:
        if not self.benchmarks:
            raise ConfigError("benchmarks: choose at least one")
        for b in self.benchmarks:
            settings = getattr(self, get_benchmark(b).section, None)
            if hasattr(settings, "validate"):   # e.g. a grid's positions past its shortest length: refused up front
                settings.validate()
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1 (items per bucket) or left out, got {self.limit}")
        for b in self.benchmarks:   # an answer of 0 new tokens measures nothing
            section = get_benchmark(b).section
            n = getattr(getattr(self, section, None), "max_new_tokens", None)
            if n is not None and n < 1:
                raise ConfigError(f"{section}.max_new_tokens must be >= 1, got {n}")
        if self.companion not in ("auto", True, False):
            raise ConfigError(f"companion must be auto, true or false, got {self.companion!r}")
        if self.companion is True and self.backend.kind not in LOGLIK_KINDS:
            raise ConfigError(f"companion=true: companion measures need a backend with log-likelihoods (backend.kind "
                              f"{self.backend.kind} has none; {', '.join(LOGLIK_KINDS)} has); use companion=auto")
        if not self.model:
            raise ConfigError("model: name the model to evaluate (a local folder, bundled name or server model)")
        self.backend.validate()   # an impossible backend setting fails now, not after the benchmarks are built
        refuse_overlap("out", self.out, {"model": self.model})

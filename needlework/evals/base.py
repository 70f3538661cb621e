"""The types every benchmark shares: an `Item` to evaluate and the `Benchmark` record of one benchmark.

A benchmark knows no backend: it turns its settings and a seed into `Item`s (a stable id, bucket
coordinates, one `Request`, and the gold data scoring needs) and scores a completion's text. This module
imports no benchmark (registry.py does), so benchmarks import it without a loop.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from ..backends.base import Request


@dataclass
class Item:
    id: str                      # stable across runs: same settings + seed -> same ids
    axes: dict[str, Any]         # bucket coordinates, e.g. {"position": 5} or {"length": 1000, "position": "last"}
    request: Request
    gold: dict[str, Any] = field(default_factory=dict)   # JSON-able; only `score` reads it
    # the question or sample this item is one layout of (an MDQA question at each gold position): items of one
    # cluster are correlated, so paired intervals resample clusters (evals/paired.py); None: independent
    cluster: str | None = None

    @property
    def bucket(self) -> str:
        return bucket_label(self.axes)


def bucket_label(axes: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in axes.items())


Score = tuple[Any, dict[str, float]]   # (parsed answer, {metric name: 0.0/1.0})


@dataclass(frozen=True)
class SelfDriven:
    """The one adapter for a benchmark whose own library drives the model (`general`: lm-evaluation-harness).

    `plan` runs with every other benchmark's `build`, before any model call: it checks data, task definitions
    and what the backend can run, and returns what `run` needs. `run` evaluates and returns scored rows shaped
    like the runner's own (benchmark, item_id, bucket, axes, over_context, scores, ...) plus notes for
    results.json; the runner aggregates and writes them exactly as it does for every other benchmark.
    """
    # (settings, EvalConfig, the run's precision.RunContext or None where the backend is not local) -> plan
    plan: Callable[[Any, Any, Any], Any]
    # (plan, EvalConfig, folder, model identity: the runner's, weights fingerprint included) -> (rows, notes)
    run: Callable[[Any, Any, Path, str], tuple[list[dict], dict]]


@dataclass(frozen=True)
class ReportHook:
    """How the report shows a benchmark. The report sits above evals and renders everything itself, so the
    record declares its benchmark's place in it instead of handing over a renderer; the report reads these
    fields, never a benchmark's name.

    A benchmark with the defaults gets the general treatment: a summary line, a section with an accuracy plot
    per axis and paired-change tables, a row in the verdict table only when it answers a claim."""
    label: str                                     # how a reader sees its name (headings, tables, verdicts)
    shape: Literal["paired", "table1"] = "paired"  # table1: a model x task table with equivalence readings (claim 3)
    # an extra section drawn from its results: the depth x length grid and effective length, or the
    # arms x families family matrix
    section: Literal["retrieval-grid", "family-matrix"] | None = None
    claim: Literal["retrieval", "transfer", "general"] | None = None   # the paper's claim it answers (1, 2, 3)
    # the score of guessing (e.g. 0.5 for a True/False answer) where rows carry none: the floor a base model must
    # clear before a change on the benchmark can be read (claims 2 and 3 mark it "not testable at this size")
    chance: float | None = None


@dataclass(frozen=True)
class Contrast:
    """What the companion measures of a QA-style item score: answer log-likelihoods, not generated text.

    context gain: log p(answer | with_gold) - log p(answer | without_gold), how much the gold passage helps;
    preference: whether log p(answer | with_gold) > log p(d | with_gold) for each distractor passage's own
    answer d (an accuracy with chance 0.5: does the model prefer the right passage's answer to a wrong one that
    also sits in the context). Paired per item before and after training, beside exact match, never instead."""
    with_gold: Request                 # the item's own prompt (the one generation is asked)
    without_gold: Request              # the same prompt with the gold passage left out (the distractors alone)
    answer: str                        # the gold answer as a continuation (its first form)
    distractor_answers: tuple[str, ...] = ()   # each distractor passage's own answer, where it has one

    @classmethod
    def from_gold(cls, item: "Item", without_gold: Request) -> "Contrast":
        """The usual case: the item's own request, its first gold answer and the distractors' answers as its
        `gold` keeps them (`answers`, `distractor_answers`); only the prompt without gold is the benchmark's."""
        return cls(with_gold=item.request, without_gold=without_gold, answer=item.gold["answers"][0],
                   distractor_answers=tuple(item.gold.get("distractor_answers", ())))


# settings -> {"items", "tokens", "new_tokens", "note"}: a benchmark whose items cannot be built ahead (a
# self-driven one) says what one evaluation costs, in prompt-token equivalents; the others are sampled.
Estimate = Callable[[Any], dict]


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: everything the runner, the pipeline's plan, the CLI and the report need to know about it.
    Adding a benchmark is its module (settings class, build, score, this record), one line in registry.py and its
    EvalConfig field."""
    name: str                                      # kebab-case, the one spelling (registry.benchmark_key)
    section: str                                   # EvalConfig field holding its settings (shared by variants)
    settings: type                                 # that field's dataclass (EvalConfig's field of that name)
    report: ReportHook
    build: Callable[[Any, int], list[Item]] | None  # (settings, seed) -> items
    score: Callable[[Item, str], Score] | None
    metrics: Callable[[Any], tuple[str, ...]]      # settings -> metric names, primary first
    axes: tuple[str, ...]                          # bucket axes, in label order
    describe: Callable[[Any], dict] = lambda s: {}  # data source and protocol notes for results.json
    bind: Callable[[Any, str], Any] = lambda s, model: s   # settings for one evaluated model (e.g. its tokenizer)
    driven: SelfDriven | None = None               # set: the benchmark drives the model itself (no build/score)
    estimate: Estimate | None = None               # the plan's cost where items are not built ahead (driven ones)
    help: str = ""                                 # one line for `needlework eval --help`
    # (settings, item) -> the item's companion-measure requests (QA-style benchmarks); None: exact match only
    contrast: Callable[[Any, Item], Contrast | None] | None = None

    @property
    def kind(self) -> str:
        return "generate" if self.driven is None else "self-driven"

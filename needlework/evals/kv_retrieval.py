"""`kv-retrieval`: the synthetic retrieval tasks themselves, at chosen gold positions and lengths.

Any registered task that declares a score (`Task.score(meta, completion) -> {metric: value}`, headline metric
first in `Task.metrics`) is evaluable: simple_kv, multi_subkey_kv, formatted_kv, variable_tracking, ...

Prompts come from needlework.tasks (the training generator), so the benchmark measures exactly the
skill fine-tuning teaches. Eval samples use seed EVAL_SEED_OFFSET + seed, so they never coincide with
training samples (generated from small seeds). Sample i is the same dictionaries at every position of a
length (the gold dictionary is moved, nothing else changes): positions are compared on paired samples.
Answers are parsed from free text: a model need not follow the template to be scored fairly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..backends.base import Request
from ..config import ConfigError
from .base import Benchmark, Item, ReportHook

EVAL_SEED_OFFSET = 1_000_000_000


@dataclass
class KVRetrievalConfig:
    task: str = field(default="simple_kv", metadata={
        "help": "The task that builds the items: any task with a score (`needlework tasks` lists them)."})
    n: int = field(default=100, metadata={"help": "Items per (length, position) bucket."})
    positions: list[int] | None = field(default=None, metadata={
        "help": "1-based gold dictionary indices; null: use depths."})
    depths: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0], metadata={
        "help": "Gold positions as fractions of the way through (0 first, 1 last), used when positions is null."})
    num_dicts: list[int] | None = field(default=None, metadata={
        "help": "The length axis in dictionaries (lines for variable_tracking); null: the task's default."})
    target_tokens: list[int] | None = field(default=None, metadata={
        "help": "The length axis in tokens instead (needs a tokenizer)."})
    tokenizer: str | None = field(default=None, metadata={
        "help": "Tokenizer for target_tokens: the same forms as `generate --tokenizer`."})
    chat_template: bool = field(default=False, metadata={
        "help": "Count target_tokens through the tokenizer's chat template."})
    template: bool = field(default=True, metadata={"help": "The answer-template variant of the prompt."})
    params: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "Other settings of the task, e.g. {n_keys: 3, digits: [3, 4]}."})
    chat: bool = field(default=True, metadata={
        "help": "Send the prompt as a user message (chat template if the model has one)."})
    max_new_tokens: int = field(default=96, metadata={"help": "Tokens generated per answer."})

    def validate(self) -> None:
        from ..tasks import get_task
        scored = scored_tasks()
        try:   # the task registry's one mapping of a spelling (simple-kv, simple_kv) to its name
            task = get_task(self.task).name
        except ConfigError:
            task = None
        if task not in scored:
            raise ConfigError(f"kv_retrieval.task must be one of {', '.join(scored)}, got {self.task!r}")
        if self.n < 1:
            raise ConfigError(f"kv_retrieval.n must be >= 1, got {self.n}")
        for name in ("depths", "num_dicts", "target_tokens", "positions"):   # [] would measure nothing
            grid = getattr(self, name)
            if grid is not None and not grid and (name != "depths" or self.positions is None):
                raise ConfigError(f"kv_retrieval.{name} is empty: give at least one value"
                                  + ("" if name == "depths" else " (or null for the default)"))
        if self.positions is None and any(not 0.0 <= d <= 1.0 for d in self.depths):
            raise ConfigError(f"kv_retrieval.depths are fractions of the context in [0, 1], got {self.depths}")
        if any(p < 1 for p in self.positions or []):
            raise ConfigError(f"kv_retrieval.positions are 1-based dictionary indices, got {self.positions}")
        if any(n < 1 for n in (self.num_dicts or []) + (self.target_tokens or [])):
            raise ConfigError("kv_retrieval.num_dicts and target_tokens must be >= 1")
        if self.num_dicts is not None and self.target_tokens is not None:
            raise ConfigError("kv_retrieval: set num_dicts or target_tokens, not both")
        if self.target_tokens is not None and not self.tokenizer:
            raise ConfigError("kv_retrieval.target_tokens needs kv_retrieval.tokenizer to count tokens")
        if self.positions and self.num_dicts and max(self.positions) > min(self.num_dicts):
            raise ConfigError(f"kv_retrieval.positions: {max(self.positions)} is past the shortest length "
                              f"({min(self.num_dicts)} dictionaries); for a grid over lengths use depths "
                              "(positions: null)")


def scored_tasks() -> list[str]:
    """Every registered task this benchmark can score."""
    from ..tasks import all_tasks
    return [name for name, t in all_tasks().items() if t.score is not None]


def _lengths(s: KVRetrievalConfig, length_field: str) -> list[tuple[str, int | None]]:
    if s.target_tokens is not None:
        return [("target_tokens", t) for t in s.target_tokens]
    return [(length_field, n) for n in (s.num_dicts or [None])]


_NOT_GOLD = ("seed", "index", "config_hash", "tokenizer", "template")   # meta that scoring never needs


def build(s: KVRetrievalConfig, seed: int) -> list[Item]:
    from ..tasks import generate_sample, get_task
    s.validate()
    task = get_task(s.task)
    count = None
    if s.target_tokens is not None:
        from ..tasks.tokenization.tokens import make_counter
        count = make_counter(s.tokenizer, chat_template=s.chat_template)
    items = []
    for kind, length in _lengths(s, task.length_field):
        place = [("gold_position", p) for p in s.positions] if s.positions else [("gold_depth", d) for d in s.depths]
        for pkey, pval in place:
            cfg = task.config_cls(**{**s.params, "template": s.template, kind: length, pkey: pval})
            cfg.validate()
            for i in range(s.n):
                sample = generate_sample(task, cfg, EVAL_SEED_OFFSET + seed, i, count)
                m = sample.meta
                length_label = length if length is not None else m[task.length_field]
                req = (Request(messages=[{"role": "user", "content": sample.prompt}], max_new_tokens=s.max_new_tokens)
                       if s.chat else Request(prompt=sample.prompt, max_new_tokens=s.max_new_tokens))
                gold = {k: v for k, v in m.items() if k not in _NOT_GOLD}
                items.append(Item(id=f"{task.name}/{kind}={length_label}/{pkey}={pval}/{i}",
                                  axes={"length": length_label, "position": pval}, request=req,
                                  gold={"task": task.name, **gold},
                                  cluster=f"{task.name}/{kind}={length_label}/{i}"))   # same dicts, every depth
    return items


def score(item: Item, text: str) -> tuple[Any, dict[str, float]]:
    """The task scores its own completions (Task.score); what it read out of the text (Task.read, when it
    has one) is recorded beside the scores."""
    from ..tasks import get_task
    task = get_task(item.gold["task"])
    return (task.read(item.gold, text) if task.read else None), task.score(item.gold, text)


def metrics(s: KVRetrievalConfig) -> tuple[str, ...]:
    """Metric names, headline first (what the family matrix reads)."""
    from ..tasks import get_task
    return get_task(s.task).metrics


def describe(s: KVRetrievalConfig) -> dict:
    from ..tasks import get_task
    unit = {"num_dict": "dictionaries", "num_lines": "lines"}.get(get_task(s.task).length_field, "units")
    return {"data_source": f"generated by needlework.tasks.{get_task(s.task).name} "
                           f"(seed {EVAL_SEED_OFFSET} + run seed)",
            "position_axis": f"gold {unit[:-1]} index (1-based)" if s.positions else "gold depth (0 first, 1 last)",
            "length_axis": "target tokens" if s.target_tokens else f"number of {unit}"}


BENCHMARK = Benchmark(name="kv-retrieval", section="kv_retrieval", settings=KVRetrievalConfig,
                      report=ReportHook("kv-retrieval", section="retrieval-grid", claim="retrieval"),
                      build=build, score=score, metrics=metrics, axes=("length", "position"), describe=describe,
                      help="synthetic key-value retrieval over a length x depth grid (claim 1)")

"""`kv-retrieval`: the synthetic retrieval tasks themselves, at chosen gold positions and lengths.

Any registered task that declares a score (`Task.score(meta, completion) -> {metric: value}`, headline metric
first in `Task.metrics`) is evaluable: formatted_kv, variable_tracking, ... The paper's two dictionary tasks
keep the parsers below (value after the word "value", dictionary name, key tuple).

Prompts come from needlework.tasks (the training generator), so the benchmark measures exactly the
skill fine-tuning teaches. Eval samples use seed EVAL_SEED_OFFSET + seed, so they never coincide with
training samples (generated from small seeds). Sample i is the same dictionaries at every position of a
length (the gold dictionary is moved, nothing else changes): positions are compared on paired samples.
Answers are parsed from free text: a model need not follow the template to be scored fairly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import Request
from ..config import ConfigError
from .base import Benchmark, Item

EVAL_SEED_OFFSET = 1_000_000_000
TASKS = ("simple_kv", "multi_subkey_kv")   # scored by this module; any other task brings its own Task.score


@dataclass
class KVRetrievalSettings:
    task: str = "simple_kv"                 # any task with a score: `needlework tasks` lists them
    n: int = 100                            # samples per (length, position) bucket
    positions: list[int] | None = None      # 1-based gold dictionary indices; null: use depths
    depths: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    num_dicts: list[int] | None = None      # length axis in dictionaries (lines for variable_tracking); null: default
    target_tokens: list[int] | None = None  # length axis in tokens instead (needs tokenizer)
    tokenizer: str | None = None            # for target_tokens: same specs as `generate --tokenizer`
    chat_template: bool = False             # count target_tokens through the tokenizer's chat template
    template: bool = True                   # the answer-template variant of the prompt
    params: dict[str, Any] = field(default_factory=dict)   # other task settings, e.g. {n_keys: 3, digits: [3, 4]}
    chat: bool = True                       # send the prompt as a user message (chat template if the model has one)
    max_new_tokens: int = 96

    def validate(self) -> None:
        scored = scored_tasks()
        if self.task.replace("-", "_") not in scored:
            raise ConfigError(f"kv_retrieval.task must be one of {', '.join(scored)}, got {self.task!r}")
        if self.n < 1:
            raise ConfigError(f"kv_retrieval.n must be >= 1, got {self.n}")
        if self.num_dicts is not None and self.target_tokens is not None:
            raise ConfigError("kv_retrieval: set num_dicts or target_tokens, not both")
        if self.target_tokens is not None and not self.tokenizer:
            raise ConfigError("kv_retrieval.target_tokens needs kv_retrieval.tokenizer to count tokens")


def scored_tasks() -> list[str]:
    """Every registered task this benchmark can score."""
    from ..tasks import all_tasks
    return [name for name, t in all_tasks().items() if name in TASKS or t.score is not None]


def _lengths(s: KVRetrievalSettings, length_field: str) -> list[tuple[str, int | None]]:
    if s.target_tokens is not None:
        return [("target_tokens", t) for t in s.target_tokens]
    return [(length_field, n) for n in (s.num_dicts or [None])]


_NOT_GOLD = ("seed", "index", "config_hash", "tokenizer", "template")   # meta that scoring never needs


def build(s: KVRetrievalSettings, seed: int) -> list[Item]:
    from ..tasks import generate_sample, get_task
    s.validate()
    task = get_task(s.task)
    count = None
    if s.target_tokens is not None:
        from ..tasks.tokens import make_counter
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
                if task.score is not None:
                    gold = {k: v for k, v in m.items() if k not in _NOT_GOLD}
                else:
                    gold = {k: m[k] for k in ("gold_key", "gold_value", "gold_dict", "question_subkeys", "num_dict",
                                              "n_tokens") if k in m}
                items.append(Item(id=f"{task.name}/{kind}={length_label}/{pkey}={pval}/{i}",
                                  axes={"length": length_label, "position": pval}, request=req,
                                  gold={"task": task.name, **gold}))
    return items


# ------------------------------------------------------------------ parsing free-text answers
_TUPLE = re.compile(r"\(\s*\d+(?:\s*,\s*\d+)+\s*,?\s*\)")
_DICT = re.compile(r"dictionary\s*(?:\[\s*|#\s*|no\.?\s*|number\s*)?(\d+)", re.I)
_VALUE = re.compile(r"\bvalue\b", re.I)
_KEY_PHRASE = re.compile(r"^\s*(?:of|for)\s+(?:the\s+)?key\s*(?:\([^)]*\)|\d+)", re.I)
# A number, with thousands separators ("8,364" is 8364, not 8) but not a decimal ("3.5") or part of a word.
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?!\d|[.,]\d)|\d+)(?![\w.]\d)")


def _int(match: re.Match) -> int:
    return int(match.group().replace(",", ""))


def parse_value(text: str, exclude: set[int] = frozenset()) -> int | None:
    """The value the model reports: the first number after the word "value" (skipping "of key K"); else the
    first bare number that is neither a dictionary name, inside a tuple key, nor one of the asked keys."""
    for m in _VALUE.finditer(text):
        rest = _KEY_PHRASE.sub("", text[m.end():m.end() + 120])
        rest = _DICT.sub(" ", _TUPLE.sub(" ", rest))
        n = _NUMBER.search(rest)
        if n:
            return _int(n)
    masked = _DICT.sub(" ", _TUPLE.sub(" ", text))
    for n in _NUMBER.finditer(masked):
        if _int(n) not in exclude:
            return _int(n)
    return None


def parse_dict(text: str) -> int | None:
    m = _DICT.search(text)
    return int(m.group(1)) if m else None


def parse_key(text: str) -> tuple[int, ...] | None:
    """The key tuple: the first tuple right after "is" (the template's "... is (a, b, c)"), else the first one."""
    tuples = list(_TUPLE.finditer(text))
    if not tuples:
        return None
    after_is = [t for t in tuples if re.search(r"\bis\s*\**\s*$", text[max(0, t.start() - 8):t.start()])]
    return tuple(int(x) for x in re.findall(r"\d+", (after_is or tuples)[0].group()))


def score(item: Item, text: str) -> tuple[dict | None, dict[str, float]]:
    g = item.gold
    if g["task"] not in TASKS:   # the task scores itself; nothing is parsed out separately
        from ..tasks import get_task
        return None, get_task(g["task"]).score(g, text)
    multi = g["task"] == "multi_subkey_kv"
    asked = set(g["question_subkeys"]) if multi else {g["gold_key"]}
    parsed = {"value": parse_value(text, asked), "dict": parse_dict(text)}
    value_ok = parsed["value"] == g["gold_value"]
    scores = {"value_acc": float(value_ok),
              "value_dict_acc": float(value_ok and parsed["dict"] == g["gold_dict"])}
    if multi:
        key = parse_key(text)
        parsed["key"] = list(key) if key else None
        scores["key_acc"] = float(key is not None and list(key) == list(g["gold_key"]))
    return parsed, scores


def metrics(s: KVRetrievalSettings) -> tuple[str, ...]:
    """Metric names, headline first (what a transfer matrix reads)."""
    from ..tasks import get_task
    task = get_task(s.task)
    if task.name not in TASKS:
        return task.metrics
    base = ("value_acc", "value_dict_acc")
    return base + ("key_acc",) if s.task.replace("-", "_") == "multi_subkey_kv" else base


def describe(s: KVRetrievalSettings) -> dict:
    from ..tasks import get_task
    unit = {"num_dict": "dictionaries", "num_lines": "lines"}.get(get_task(s.task).length_field, "units")
    return {"data_source": f"generated by needlework.tasks.{s.task.replace('-', '_')} "
                           f"(seed {EVAL_SEED_OFFSET} + run seed)",
            "position_axis": f"gold {unit[:-1]} index (1-based)" if s.positions else "gold depth (0 first, 1 last)",
            "length_axis": "target tokens" if s.target_tokens else f"number of {unit}"}


BENCHMARK = Benchmark(name="kv-retrieval", section="kv_retrieval", build=build, score=score, metrics=metrics,
                      axes=("length", "position"), describe=describe)

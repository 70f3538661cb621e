"""`records`: retrieve one field of one record from a catalogue written as CSV, a markdown table, log lines,
YAML or INI (record_formats), with keys and values from real vocabularies (suite.vocab): Wikipedia titles as
record names, NQ answers (people, places, works) as owners, essay words as tags. No digits anywhere a key or
value could be; nothing like the training dictionaries.

Item i (of seed s) draws n_records distinct names, owners and tags from the split's half of each vocabulary
with its own generator (s, i); the asked record sits at depths[i % len(depths)] (0 first, 1 last), the asked
field alternates owner/tag, and `format: mixed` cycles the formats over items (i % 5). No asked value is
contained, as whole words, in another name, owner or tag of the item (else a wrong copy or the echoed
name would score).
Split: the vocabularies' own hash halves (suite.vocab), so dev and eval items share no name, owner or tag.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ...backends.base import Request
from ...config import ConfigError
from ...text import normalize_answer
from ..base import Benchmark, Contrast, Item, ReportHook
from . import vocab
from .readers import answer_line, short_answer_em
from .record_formats import DESCRIBE, FORMATS, render
from .split import check_split

NAME = "records"
METRIC = "answer_em"
QUESTIONS = {"owner": 'Who is the owner of the record named "{name}"?',
             "tag": 'What is the tag of the record named "{name}"?'}
SEED_OFFSET = 30_000   # item generators never coincide with another family's (seed, i)


@dataclass
class RecordsConfig:
    n: int = field(default=60, metadata={"help": "Items."})
    n_records: int = field(default=12, metadata={
        "help": "Records per prompt (~300-550 tokens; 30 put a 135M model at the floor)."})
    format: Literal["mixed", "csv", "markdown", "log", "yaml", "ini"] = field(default="mixed", metadata={
        "help": "How the catalogue is written: mixed (cycled over items) | csv | markdown | log | yaml | ini."})
    depths: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0], metadata={
        "help": "The asked record's place (0 first, 1 last), rotating over items."})
    split: Literal["eval", "dev"] = field(default="eval", metadata={
        "help": "Vocabulary half the items draw from: eval | dev (to choose a recipe; shares nothing with eval)."})
    chat: bool = field(default=True, metadata={"help": "Send the prompt as a user message."})
    max_new_tokens: int = field(default=40, metadata={
        "help": "Tokens generated per answer (room for one that repeats the question first)."})

    def validate(self) -> None:
        check_split(self.split, "records")
        if self.n < 1 or self.n_records < 2:
            raise ConfigError(f"records.n must be >= 1 and records.n_records >= 2, got {self.n}, {self.n_records}")
        if self.format not in ("mixed",) + FORMATS:
            raise ConfigError(f"records.format must be mixed or one of {', '.join(FORMATS)}, got {self.format!r}")
        if not self.depths or any(not 0.0 <= d <= 1.0 for d in self.depths):
            raise ConfigError(f"records.depths must lie in [0, 1], got {self.depths}")


def _distinct(pool: tuple[str, ...], count: int, rng: np.random.Generator, norms: list[str]) -> list[str]:
    """count entries, none of which contains, as whole words (normalised), another entry of this item (norms:
    those already drawn for other fields, extended here): a wrong copy, or the echoed name, never scores."""
    out = []
    for i in rng.permutation(len(pool)):
        n = f" {normalize_answer(pool[i])} "
        if n.strip() and not any(n in m or m in n for m in norms):
            out.append(pool[i])
            norms.append(n)
            if len(out) == count:
                return out
    raise ConfigError(f"records: only {len(out)} distinct entries for n_records={count}; lower it")


def _stamps(rng: np.random.Generator, count: int) -> list[str]:
    secs = np.sort(rng.integers(0, 86_400, size=count))
    day = int(rng.integers(1, 28))
    return [f"2023-05-{day:02d}T{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}Z" for s in secs]


def _prompt(fmt: str, table: str, question: str) -> str:
    return (f"Below is {DESCRIBE[fmt]} of catalogue records. Answer the question with the value only.\n\n"
            f"{table}\n\nQuestion: {question}\nAnswer:")


def _request(s: RecordsConfig, prompt: str) -> Request:
    if s.chat:
        return Request(messages=[{"role": "user", "content": prompt}], max_new_tokens=s.max_new_tokens)
    return Request(prompt=prompt, max_new_tokens=s.max_new_tokens)


def build(s: RecordsConfig, seed: int) -> list[Item]:
    s.validate()
    names, owners, tags = vocab.titles(s.split), vocab.entities(s.split), vocab.words(s.split)
    items = []
    for i in range(s.n):
        rng = np.random.default_rng([SEED_OFFSET + seed, i])
        taken: list[str] = []
        recs = [{"name": a, "owner": b, "tag": c} for a, b, c in zip(
            _distinct(names, s.n_records, rng, taken), _distinct(owners, s.n_records, rng, taken),
            _distinct(tags, s.n_records, rng, taken))]
        depth = s.depths[i % len(s.depths)]
        pos = round(depth * (s.n_records - 1))
        fmt = FORMATS[i % len(FORMATS)] if s.format == "mixed" else s.format
        asked = ("owner", "tag")[(i // len(s.depths)) % 2]
        stamps = _stamps(rng, s.n_records)
        question = QUESTIONS[asked].format(name=recs[pos]["name"])
        near = sorted((j for j in range(s.n_records) if j != pos), key=lambda j: (abs(j - pos), j))[:4]
        items.append(Item(
            id=f"{s.split}/{i}/{fmt}/depth={depth}", axes={"format": fmt, "depth": depth},
            request=_request(s, _prompt(fmt, render(fmt, recs, stamps), question)),
            gold={"answers": [recs[pos][asked]], "field": asked, "name": recs[pos]["name"], "format": fmt,
                  "question": question, "records": recs, "stamps": stamps, "position": pos,
                  "distractor_answers": [recs[j][asked] for j in near]}))
    return items


def score(item: Item, text: str) -> tuple[str, dict[str, float]]:
    return answer_line(text), {METRIC: short_answer_em(text, item.gold["answers"])}


def contrast(s: RecordsConfig, item: Item) -> Contrast:
    """Without the gold record: the same table less its asked row; distractors: the asked field of the four
    records nearest it."""
    g = item.gold
    keep = [j for j in range(len(g["records"])) if j != g["position"]]
    table = render(g["format"], [g["records"][j] for j in keep], [g["stamps"][j] for j in keep])
    return Contrast.from_gold(item, _request(s, _prompt(g["format"], table, g["question"])))


def describe(s: RecordsConfig) -> dict:
    return {"data_source": "generated from real vocabularies in the package: NQ-Open oracle titles and answers "
                           "(Liu et al.), Paul Graham essay words (padding half)",
            "licence": "MIT (the packaged data's licences); Wikipedia titles are facts, not text",
            "split": f"{s.split}: every name, owner and tag from the vocabularies' {s.split} hash half "
                     "(needlework.evals.suite.vocab)",
            "layout": f"{s.n_records} records as {s.format} (mixed: csv, markdown, log, yaml, ini by item), asked "
                      f"record at depths {s.depths}, field owner or tag",
            "metric": "whole-word best-subspan exact match on the first non-empty line"}


BENCHMARK = Benchmark(name=NAME, section="records", settings=RecordsConfig,
                      report=ReportHook("Records", claim="transfer"), build=build, score=score,
                      metrics=lambda s: (METRIC,), axes=("format", "depth"), describe=describe, contrast=contrast,
                      help="one field of one record in CSV / markdown / log / YAML / INI (claim 2)")

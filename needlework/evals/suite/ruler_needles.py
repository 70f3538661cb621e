"""`ruler-needles`: RULER's multi-key, multi-value and multi-query needles (Hsieh et al. 2024) in the essay
haystack, with real words instead of RULER's numbers.

Needles read 'One of the special magic words for "<key>" is: <value>.', keys Wikipedia titles and values essay
words (suite.vocab; the split's halves, so dev and eval share no key or value). Kinds (`kind: mixed` cycles
them over items):
- mk (multi-key): `n_keys` keys with one value each, one key asked;
- mv (multi-value): one key with `n_values` values, all asked;
- mq (multi-query): `n_keys` keys with one value each, `n_queries` of them asked.
The first asked needle sits at depths[i % len(depths)]; the others at seeded places. Scoring reads the answer's first
paragraph: `all_found` (headline, 0/1) is right when every asked value is there as a whole word
and no other needle's value is (listing every value is not retrieval); `recall` is RULER's share of asked
values found. Item i (of seed s) depends only on (s, i).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ...backends.base import Request
from ...config import ConfigError
from ...text import normalize_answer
from ..base import Benchmark, Contrast, Item, ReportHook
from . import haystack, vocab
from .records import _distinct
from .split import check_split

NAME = "ruler-needles"
KINDS = ("mk", "mv", "mq")
SEED_OFFSET = 50_000
NEEDLE = 'One of the special magic words for "{key}" is: {value}.'
INSTRUCTION = ("Some special magic words are hidden inside the following text. Read it, then answer the question "
               "with the magic words only, separated by commas.")


@dataclass
class RulerNeedlesConfig:
    n: int = field(default=60, metadata={"help": "Items."})
    kind: Literal["mixed", "mk", "mv", "mq"] = field(default="mixed", metadata={
        "help": "RULER's needle kind: mk (multi-key) | mv (multi-value) | mq (multi-query) | mixed (cycled over "
                "items)."})
    n_keys: int = field(default=4, metadata={"help": "mk / mq: keys planted."})
    n_values: int = field(default=3, metadata={"help": "mv: values of the one key."})
    n_queries: int = field(default=2, metadata={"help": "mq: keys asked."})
    context_chars: int = field(default=3000, metadata={"help": "Haystack size in characters (whole sentences)."})
    depths: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0], metadata={
        "help": "The first asked needle's place (0 first, 1 last), rotating over items."})
    split: Literal["eval", "dev"] = field(default="eval", metadata={
        "help": "Half of the vocabularies the items draw from: eval | dev."})
    chat: bool = field(default=True, metadata={"help": "Send the prompt as a user message."})
    max_new_tokens: int = field(default=32, metadata={"help": "Tokens generated per answer."})

    def validate(self) -> None:
        check_split(self.split, "ruler_needles")
        if self.kind not in ("mixed",) + KINDS:
            raise ConfigError(f"ruler_needles.kind must be mixed, mk, mv or mq, got {self.kind!r}")
        if self.n < 1 or self.n_keys < 2 or self.n_values < 2 or not 2 <= self.n_queries <= self.n_keys:
            raise ConfigError("ruler_needles: n >= 1, n_keys >= 2, n_values >= 2 and 2 <= n_queries <= n_keys are "
                              f"needed, got {self.n}, {self.n_keys}, {self.n_values}, {self.n_queries}")
        if self.context_chars < 200 or not self.depths or any(not 0.0 <= d <= 1.0 for d in self.depths):
            raise ConfigError("ruler_needles: context_chars >= 200 and depths in [0, 1] are needed")


def _question(kind: str, keys: list[str]) -> str:
    if kind == "mk":
        return f'What is the special magic word for "{keys[0]}" mentioned in the text?'
    if kind == "mv":
        return f'What are all the special magic words for "{keys[0]}" mentioned in the text?'
    return "What are the special magic words for " + " and ".join(f'"{k}"' for k in keys) + " mentioned in the text?"


def _request(s: RulerNeedlesConfig, prompt: str) -> Request:
    if s.chat:
        return Request(messages=[{"role": "user", "content": prompt}], max_new_tokens=s.max_new_tokens)
    return Request(prompt=prompt, max_new_tokens=s.max_new_tokens)


def _prompt(text: str, question: str) -> str:
    return f"{INSTRUCTION}\n\n{text}\n\nQuestion: {question}\nAnswer:"


def build(s: RulerNeedlesConfig, seed: int) -> list[Item]:
    s.validate()
    titles, words = vocab.titles(s.split), vocab.words(s.split)
    sents = haystack.sentences()
    items = []
    for i in range(s.n):
        rng = np.random.default_rng([SEED_OFFSET + seed, i])
        depth = s.depths[i % len(s.depths)]
        kind = KINDS[(i // len(s.depths)) % len(KINDS)] if s.kind == "mixed" else s.kind
        win = haystack.window(sents, s.context_chars, rng)
        seen = set(normalize_answer(" ".join(t for _, t in win)).split())
        values = tuple(w for w in words if w not in seen)       # no value also sits in the text by chance
        taken: list[str] = []
        if kind == "mv":
            keys = _distinct(titles, 1, rng, taken)
            pairs = [(keys[0], v) for v in _distinct(values, s.n_values, rng, taken)]
            asked = list(range(s.n_values))
        else:
            keys = _distinct(titles, s.n_keys, rng, taken)
            pairs = list(zip(keys, _distinct(values, s.n_keys, rng, taken)))
            asked = [0] if kind == "mk" else list(range(s.n_queries))
        at = round(depth * len(win))
        places = [at] + haystack.spots(win, at, len(pairs) - 1, rng)
        placed = [(k, NEEDLE.format(key=key, value=v)) for k, (key, v) in zip(places, pairs)]
        question = _question(kind, list(dict.fromkeys(pairs[j][0] for j in asked)))
        others = [v for j, (_, v) in enumerate(pairs) if j not in asked]
        items.append(Item(
            id=f"{s.split}/{i}/{kind}/depth={depth}", axes={"kind": kind, "depth": depth},
            request=_request(s, _prompt(haystack.plant(win, haystack.gather(placed)), question)),
            gold={"answers": [pairs[j][1] for j in asked], "distractor_answers": others, "kind": kind,
                  "question": question,
                  "without_gold": _prompt(haystack.plant(win, haystack.gather(placed[1:])), question)
                  if kind == "mk" else None}))
    return items


def _answer(text: str) -> str:
    """The first non-empty paragraph (a list may run over lines), joined to the next after a colon lead-in."""
    paras = [p.strip() for p in text.split("\n\n") if p.strip()]
    if not paras:
        return ""
    return f"{paras[0]} {paras[1]}" if paras[0].endswith(":") and len(paras) > 1 else paras[0]


def score(item: Item, text: str) -> tuple[str, dict[str, float]]:
    said = f" {normalize_answer(_answer(text))} "
    found = [f" {normalize_answer(v)} " in said for v in item.gold["answers"]]
    wrong = any(f" {normalize_answer(v)} " in said for v in item.gold["distractor_answers"])
    return _answer(text).strip(), {"all_found": float(all(found) and not wrong),
                                   "recall": sum(found) / len(found)}


def contrast(s: RulerNeedlesConfig, item: Item) -> Contrast | None:
    """Multi-key items only (one answer): without the asked needle; distractors: the other keys' values."""
    g = item.gold
    if g["kind"] != "mk":
        return None
    return Contrast.from_gold(item, _request(s, g["without_gold"]))


def describe(s: RulerNeedlesConfig) -> dict:
    return {"data_source": "Paul Graham essays (padding half) as haystack; keys NQ-Open oracle titles, values essay "
                           "words (needlework.evals.suite.vocab)",
            "licence": "MIT (the packaged data's licences)",
            "split": f"{s.split}: every key and value from the vocabularies' {s.split} hash half",
            "layout": f"{s.context_chars} characters, kind {s.kind} (mk: {s.n_keys} keys, one asked; mv: "
                      f"{s.n_values} values of one key; mq: {s.n_queries} of {s.n_keys} keys asked), first asked "
                      f"needle at depths {s.depths}",
            "metric": "all asked values as whole words and no other needle's value (all_found); recall"}


BENCHMARK = Benchmark(name=NAME, section="ruler_needles", settings=RulerNeedlesConfig,
                      report=ReportHook("RULER needles", claim="transfer"), build=build, score=score,
                      metrics=lambda s: ("all_found", "recall"), axes=("kind", "depth"), describe=describe,
                      contrast=contrast, help="RULER multi-key / multi-value / multi-query needles (claim 2)")

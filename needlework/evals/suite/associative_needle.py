"""`associative-needle`: a NoLiMa-style non-literal needle in a haystack of real essay text.

The needle ("Yuki lives next to the Eiffel Tower.") and the question ("Which character has been to France?")
share no content word (suite.associations; a test checks every pair): the model must link them through an
association it already has. `distractors` more needles about other characters and other countries sit
elsewhere in the text, so naming the only character in sight does not answer it, and each of them is a wrong
answer in context (the companion measures' preference). The answer is the character's first name; naming a
distractor character as well is hedging and scores 0.

Haystack (suite.haystack): the Paul Graham essays' `padding` half (the NIAH baseline trains on the other
half), paragraphs naming any character of the name list dropped, a window of `context_chars` whole sentences
from a seeded start. Item i (of seed s) uses its own generator (s, i); the asked association is the i-th of a
seeded permutation of the split's associations, its needle at depths[i % len(depths)] (0 first, 1 last).
Split: by a hash of the association's cue (suite.split), so dev and eval ask disjoint associations and their
distractor needles come from their own half too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ...backends.base import Request
from ...config import ConfigError
from ...text import normalize_answer
from ..base import Benchmark, Contrast, Item, ReportHook
from . import haystack
from .associations import Association, load_associations, load_names
from .readers import answer_line
from .split import check_split, split_of, stable_id

NAME = "associative-needle"
METRIC = "answer_em"
SEED_OFFSET = 40_000
INSTRUCTION = ("Below is a long text. A few sentences about characters are hidden in it. Read it, then answer the "
               "question with the character's name only.")


@dataclass
class AssociativeNeedleConfig:
    n: int = field(default=60, metadata={"help": "Items."})
    context_chars: int = field(default=3000, metadata={"help": "Haystack size in characters (whole sentences)."})
    distractors: int = field(default=2, metadata={
        "help": "Other characters' needles in the haystack (other countries)."})
    depths: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0], metadata={
        "help": "The asked needle's place in the haystack (0 first, 1 last), rotating over items."})
    split: Literal["eval", "dev"] = field(default="eval", metadata={
        "help": "Half of the names and associations the items draw from: eval | dev."})
    associations_file: str | None = field(default=None, metadata={
        "help": "File of kind<TAB>cue<TAB>place lines; null: the packaged list."})
    names_file: str | None = field(default=None, metadata={
        "help": "File of first names, one a line; null: the packaged list."})
    chat: bool = field(default=True, metadata={"help": "Send the prompt as a user message."})
    max_new_tokens: int = field(default=16, metadata={"help": "Tokens generated per answer."})

    def validate(self) -> None:
        check_split(self.split, "associative_needle")
        if self.n < 1 or self.context_chars < 200 or self.distractors < 0:
            raise ConfigError("associative_needle: n >= 1, context_chars >= 200 and distractors >= 0 are needed, got "
                              f"{self.n}, {self.context_chars}, {self.distractors}")
        if not self.depths or any(not 0.0 <= d <= 1.0 for d in self.depths):
            raise ConfigError(f"associative_needle.depths must lie in [0, 1], got {self.depths}")


def _prompt(text: str, question: str) -> str:
    return f"{INSTRUCTION}\n\n{text}\n\nQuestion: {question}\nAnswer:"


def _request(s: AssociativeNeedleConfig, prompt: str) -> Request:
    if s.chat:
        return Request(messages=[{"role": "user", "content": prompt}], max_new_tokens=s.max_new_tokens)
    return Request(prompt=prompt, max_new_tokens=s.max_new_tokens)


def _pool(s: AssociativeNeedleConfig) -> list[Association]:
    pool = [a for a in load_associations(s.associations_file) if split_of(a.cue, NAME) == s.split]
    if len({a.place for a in pool}) < s.distractors + 1:
        raise ConfigError(f"associative_needle.distractors={s.distractors}: the {s.split} half has associations "
                          f"for only {len({a.place for a in pool})} countries")
    return sorted(pool, key=lambda a: stable_id(a.cue))


def build(s: AssociativeNeedleConfig, seed: int) -> list[Item]:
    s.validate()
    names = load_names(s.names_file)
    if len(names) < s.distractors + 1:
        raise ConfigError(f"associative_needle.distractors={s.distractors} needs {s.distractors + 1} names")
    pool = _pool(s)
    sents = haystack.sentences(names)
    order = np.random.default_rng([SEED_OFFSET + seed, 1]).permutation(len(pool))
    items = []
    for i in range(s.n):
        rng = np.random.default_rng([SEED_OFFSET + seed, 2, i])
        asked = pool[order[i % len(pool)]]
        others = [pool[j] for j in rng.permutation(len(pool)) if pool[j].place != asked.place]
        chosen: list[Association] = []
        for a in others:
            if len(chosen) < s.distractors and a.place not in {c.place for c in chosen}:
                chosen.append(a)
        who = [names[j] for j in rng.permutation(len(names))[:s.distractors + 1]]
        win = haystack.window(sents, s.context_chars, rng)
        depth = s.depths[i % len(s.depths)]
        at = round(depth * len(win))
        spots = haystack.spots(win, at, s.distractors, rng)
        placed = [(at, asked.needle(who[0]))] + [(k, a.needle(n)) for k, a, n in zip(spots, chosen, who[1:])]
        items.append(Item(
            id=f"{s.split}/{i}/{stable_id(asked.cue, 8)}/depth={depth}", axes={"depth": depth},
            request=_request(s, _prompt(haystack.plant(win, haystack.gather(placed)), asked.question)),
            gold={"answers": [who[0]], "distractor_answers": who[1:], "question": asked.question,
                  "needle": placed[0][1], "cue": asked.cue, "place": asked.place,
                  "without_gold": _prompt(haystack.plant(win, haystack.gather(placed[1:])), asked.question)},
            cluster=f"{s.split}/{stable_id(asked.cue, 8)}"))   # n > the half's associations: one asked again
    return items


def _says(line: str, name: str) -> bool:
    return f" {normalize_answer(name)} " in f" {normalize_answer(line)} "


def score(item: Item, text: str) -> tuple[str, dict[str, float]]:
    """Right: the answer line names the character and none of the distractor characters."""
    line = answer_line(text)
    right = _says(line, item.gold["answers"][0]) and not any(_says(line, d) for d in item.gold["distractor_answers"])
    return line, {METRIC: float(right)}


def contrast(s: AssociativeNeedleConfig, item: Item) -> Contrast:
    """Without the gold needle: the same text and distractor needles; distractors: their characters."""
    return Contrast.from_gold(item, _request(s, item.gold["without_gold"]))


def describe(s: AssociativeNeedleConfig) -> dict:
    return {"data_source": "Paul Graham essays (padding half) as haystack; needles from needlework's own list of "
                           "landmarks and dishes with their countries (resources/associations)",
            "licence": "MIT (essays: as packaged; associations and names: needlework's own work)",
            "split": f"{s.split}: by SHA-256 of the association's cue (needlework.evals.suite.split)",
            "layout": f"{s.context_chars} characters of essay text, the needle at depths {s.depths}, "
                      f"{s.distractors} distractor needles about other characters and countries",
            "metric": "the first non-empty line names the character and no distractor character"}


BENCHMARK = Benchmark(name=NAME, section="associative_needle", settings=AssociativeNeedleConfig,
                      report=ReportHook("Associative needle", claim="transfer"), build=build, score=score,
                      metrics=lambda s: (METRIC,), axes=("depth",), describe=describe, contrast=contrast,
                      help="NoLiMa-style needle linked to its question only by an association (claim 2)")

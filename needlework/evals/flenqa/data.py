"""Offline FLenQA-protocol data (Levy et al., "Same Task, More Tokens"), written from its description.

The released FLenQA records are not available here, so the three base tasks are small generators of our
own: each makes a True/False question answered by exactly two key sentences.
  PIR (people in rooms):   "Ava is in Noah's study." + "Noah's study is sunlit." -> "Is Ava in a sunlit room?"
  MonoRel (monotone rel.): "Ava is older than Noah." + "Noah is older than Liam." -> "Is Ava older than Liam?"
  Simplified RuleTaker:    rule "If someone is big and kind then they are red." + "Ava is big." + "Ava is kind."
                           -> statement "Ava is red." (True) / "Ava is not red." or a negated fact (False)
Labels alternate True/False by sample index (balanced). As in FLenQA, each key sentence is embedded in a
short paragraph of neutral sentences (paragraphs.py; `paragraphs=False` keeps bare sentences). The
key paragraphs are padded to a target length with essay sentences ("books") or with other samples' key
paragraphs that share no entity ("same"), and placed first / middle / last / random. Padding is chosen per
(sample, padding type, length) only, so the four placements of a sample differ in nothing but where the key
paragraphs sit.
"""
from __future__ import annotations

import itertools

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterator

import numpy as np

NAMES = ("Ava", "Noah", "Liam", "Emma", "Olivia", "Elijah", "Mia", "Lucas", "Amelia", "Mason", "Harper", "Ethan",
         "Evelyn", "Logan", "Abigail", "James", "Ella", "Jacob", "Scarlett", "Henry", "Grace", "Owen", "Chloe",
         "Samuel", "Nora", "Caleb", "Lily", "Isaac", "Hazel", "Julian", "Aurora", "Levi", "Violet", "Miles",
         "Stella", "Ezra", "Lucy", "Adrian", "Ruby", "Felix", "Iris", "Hugo", "Clara", "Oscar", "Alice", "Leo")
ROOMS = ("kitchen", "study", "garage", "attic", "basement", "library", "office", "bedroom", "living room",
         "dining room", "workshop", "pantry", "nursery", "conservatory")
ROOM_ADJ = ("sunlit", "windowless", "carpeted", "marble-floored", "wood-paneled", "blue-walled", "drafty",
            "spotless", "cluttered", "dimly lit", "freshly painted", "high-ceilinged")
RELATIONS = ("older", "taller", "richer", "faster", "heavier", "stronger", "louder", "happier")
TRAITS = ("big", "kind", "red", "quiet", "young", "round", "furry", "rough", "smart", "green", "cold", "nice",
          "blue", "white", "careful", "rich")
DATASETS = ("PIR", "MonoRel", "Simplified RuleTaker")
MAX_CANDIDATES = 100_000        # hard bound on padding candidates examined, whatever is rejected
MAX_MISSES, MIN_GAP = 200, 4   # padding stops within MIN_GAP tokens of its budget (or after MAX_MISSES overshoots)


@dataclass
class Base:
    dataset: str
    sample_id: int
    label: str                 # "True" | "False"
    facts: list[str]           # the two key sentences, in reading order
    question: str              # PIR/MonoRel question, RuleTaker statement
    rule: str = ""             # RuleTaker only
    entities: tuple[str, ...] = ()   # names and rooms; "same" padding avoids samples that share any
    texts: list[str] | None = None   # what the mixin carries: key paragraphs (default) or the bare facts

    @property
    def key_texts(self) -> list[str]:
        return self.texts if self.texts is not None else self.facts


def _pick(rng: np.random.Generator, pool: tuple, k: int) -> list:
    return [pool[i] for i in rng.choice(len(pool), size=k, replace=False)]


def make_pir(rng, sample_id: int, label: str) -> Base:
    person, owner = _pick(rng, NAMES, 2)
    room = f"{owner}'s {ROOMS[int(rng.integers(len(ROOMS)))]}"
    adj, other = _pick(rng, ROOM_ADJ, 2)
    asked = adj if label == "True" else other
    return Base("PIR", sample_id, label, [f"{person} is in {room}.", f"{room[0].upper()}{room[1:]} is {adj}."],
                f"Is {person} in a {asked} room?", entities=(person, owner))


def make_monorel(rng, sample_id: int, label: str) -> Base:
    a, b, c = _pick(rng, NAMES, 3)
    rel = RELATIONS[int(rng.integers(len(RELATIONS)))]
    facts = [f"{a} is {rel} than {b}.", f"{b} is {rel} than {c}."]
    if rng.random() < 0.5:   # the order of the two facts carries no information
        facts.reverse()
    q = f"Is {a} {rel} than {c}?" if label == "True" else f"Is {c} {rel} than {a}?"
    return Base("MonoRel", sample_id, label, facts, q, entities=(a, b, c))


def make_ruletaker(rng, sample_id: int, label: str) -> Base:
    name = NAMES[int(rng.integers(len(NAMES)))]
    t1, t2, t3 = _pick(rng, TRAITS, 3)
    rule = f"If someone is {t1} and {t2} then they are {t3}."
    facts, statement = [f"{name} is {t1}.", f"{name} is {t2}."], f"{name} is {t3}."
    if label == "False":
        if rng.random() < 0.5:
            statement = f"{name} is not {t3}."      # the opposite of what the rule derives
        else:
            facts[1] = f"{name} is not {t2}."       # a premise fails, so the conclusion cannot be derived
    return Base("Simplified RuleTaker", sample_id, label, facts, statement, rule=rule, entities=(name,))


MAKERS: dict[str, Callable] = {"PIR": make_pir, "MonoRel": make_monorel, "Simplified RuleTaker": make_ruletaker}


def base_sample(dataset: str, seed: int, sample_id: int, paragraphs: bool = True) -> Base:
    rng = np.random.default_rng([seed, DATASETS.index(dataset), sample_id])
    base = MAKERS[dataset](rng, sample_id, "True" if sample_id % 2 == 0 else "False")
    if paragraphs:   # a generator of its own, so the facts are the same with or without paragraphs
        from .paragraphs import key_paragraphs
        base.texts = key_paragraphs(dataset, base.facts, base.entities,
                                    np.random.default_rng([seed, DATASETS.index(dataset), sample_id, 3]))
    return base


def approx_tokens(text: str) -> int:
    """Tokenizer-free length proxy: words and punctuation marks (close to BPE counts for English prose)."""
    return len(re.findall(r"\w+|[^\w\s]", text))


@lru_cache(maxsize=2)
def essay_sentences(path: str | None = None) -> tuple[str, ...]:
    from ...real_data import load_essays
    text = " ".join(load_essays(path, "padding").split())   # never the half NIAH trains on
    # The essay files sometimes glue sentences across lost line breaks ("billions.It's"): split there too.
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z\"'(])|(?<=[a-z]{2}[.!?])(?=[A-Z])", text)
    # Stock lines recur across essays ("Want to start a startup?"): one that also stands in the NIAH half is
    # dropped, so no padding sentence is ever in a NIAH training sample.
    haystack = " ".join(load_essays(None, "haystack").split()) if path is None else ""
    return tuple(s for s in parts if 3 <= len(s.split()) <= 80 and s not in haystack)


def padding_sentences(base: Base, padding: str, budget: int, count: Callable[[str], int], seed: int,
                      essays: str | None = None, paragraphs: bool = True) -> list[str]:
    """Sentences adding up to at most `budget` tokens; a function of (sample, padding type, budget) only."""
    rng = np.random.default_rng([seed, DATASETS.index(base.dataset), base.sample_id, budget,
                                 0 if padding == "books" else 1])
    if padding == "books":
        sents = essay_sentences(essays)
        i = int(rng.integers(len(sents)))
        candidates = ([[sents[(i + j) % len(sents)]]] for j in itertools.count())
    else:
        candidates = _other_samples(base, seed, int(rng.integers(10**6, 10**9)), paragraphs)
    return _fill(candidates, budget, count)


def _other_samples(base: Base, seed: int, first_id: int, paragraphs: bool = True) -> Iterator[list[list[str]]]:
    """"same" padding: key paragraphs (or sentences) of unrelated samples of this dataset; near the end of the
    budget one of a pair may still fit, so each candidate offers the pair, then its first one."""
    for other_id in itertools.count(first_id):
        other = base_sample(base.dataset, seed, other_id, paragraphs)
        if set(other.entities) & set(base.entities):
            yield []   # shares a person or object with this sample: not usable
        else:
            yield [list(other.key_texts), list(other.key_texts)[:1]]


def _fill(candidates: Iterator[list[list[str]]], budget: int, count: Callable[[str], int]) -> list[str]:
    """Take the first option of each candidate that fits; a candidate with no fitting option is a miss, so
    the text ends close to the budget, not short of it. At most MAX_CANDIDATES are examined."""
    out, used, misses = [], 0, 0
    for options in itertools.islice(candidates, MAX_CANDIDATES):
        if misses >= MAX_MISSES or budget - used < MIN_GAP:
            break
        if not options:
            continue
        for group in options:
            t = count(" " + " ".join(group))
            if used + t <= budget:
                out.extend(group)
                used += t
                break
        else:
            misses += 1
    return out


def place(facts: list[str], pad: list[str], dispersion: str, rng: np.random.Generator) -> str:
    """The mixin: key sentences first / middle / last / at random places (kept in their order)."""
    if dispersion == "first":
        parts = facts + pad
    elif dispersion == "last":
        parts = pad + facts
    elif dispersion == "middle":
        h = len(pad) // 2
        parts = pad[:h] + facts + pad[h:]
    else:
        slots = sorted(rng.choice(len(pad) + 1, size=len(facts), replace=True).tolist())
        parts, prev = [], 0
        for f, s in zip(facts, slots):
            parts += pad[prev:s] + [f]
            prev = s
        parts += pad[prev:]
    return " ".join(parts)


def build_mixins(base: Base, padding: str, length: int, dispersions: list[str], count: Callable[[str], int],
                 seed: int, essays: str | None = None) -> dict[str, str]:
    """One padding per (sample, padding type, length), laid out once per dispersion."""
    budget = max(0, length - count(" ".join(base.key_texts)))
    pad = padding_sentences(base, padding, budget, count, seed, essays, base.texts is not None)
    out = {}
    for d in dispersions:
        rng = np.random.default_rng([seed, DATASETS.index(base.dataset), base.sample_id, length, 2])
        out[d] = place(base.key_texts, pad, d, rng)
    return out

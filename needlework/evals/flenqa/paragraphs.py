"""Key facts embedded in short paragraphs, as FLenQA presents them (Levy et al. §3: each key sentence is
expanded into a paragraph that adds no information relevant to the question).

The authors wrote their paragraphs with GPT-4; offline we wrap each key sentence between two neutral
sentences about the same person or room, drawn from fixed pools. The pools are checked (tests) to use none of
the words a question can turn on -- room adjectives, relations, RuleTaker traits, negations -- so a paragraph
says nothing more than its key sentence. The bare key sentences stay the key facts that CoT coverage counts.
"""
from __future__ import annotations

import re

import numpy as np

PERSON = (
    "{p} had been looking forward to this afternoon for most of the week.",
    "Earlier in the day {p} had answered a long list of messages.",
    "{p} mentioned the plan to a friend over breakfast.",
    "Later {p} would walk home by the usual route along the river.",
    "Everyone who knows {p} agrees that the day had started early.",
    "{p} put the phone away and looked around for a moment.",
    "It had taken {p} some time to find a free hour for this.",
    "{p} still had a letter to post before the evening.",
)
PAIR = (
    "{a} and {b} have known each other since their school days.",
    "Friends of {a} and {b} often talk about the two of them.",
    "{a} met {b} again at the station last spring.",
    "People who meet {a} and {b} for the first time tend to remember them.",
    "{a} and {b} once spent a whole summer in the same town.",
    "A neighbour had asked about {a} and {b} only the week before.",
)
ROOM = (
    "{r} is where the family keeps its old photograph albums.",
    "Guests usually pass through {r} on their way upstairs.",
    "A small shelf of cookbooks stands by the door of {r}.",
    "{r} has been part of the house for as long as anyone remembers.",
    "The family often gathers in {r} on Sunday evenings.",
    "The keys to {r} hang on a hook in the hall.",
)


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def _wrap(fact: str, fillers: list[str]) -> str:
    return " ".join(_cap(x) for x in (fillers[0], fact, fillers[1]))


def _draw(rng: np.random.Generator, pool: tuple[str, ...], k: int, **names: str) -> list[str]:
    return [pool[i].format(**names) for i in rng.choice(len(pool), size=k, replace=False).tolist()]


def key_paragraphs(dataset: str, facts: list[str], names: tuple[str, ...], rng: np.random.Generator) -> list[str]:
    """One paragraph per key sentence: a neutral sentence before and after, about the fact's own subject
    (PIR: the person, then the room; MonoRel: the two people compared; RuleTaker: the one person)."""
    if dataset == "PIR":
        room = facts[0].split(" is in ", 1)[1].rstrip(".")
        return [_wrap(facts[0], _draw(rng, PERSON, 2, p=names[0])), _wrap(facts[1], _draw(rng, ROOM, 2, r=room))]
    if dataset == "MonoRel":
        out = []
        for f in facts:
            a, b = sorted((n for n in names if re.search(rf"\b{n}\b", f)), key=f.index)
            out.append(_wrap(f, _draw(rng, PAIR, 2, a=a, b=b)))
        return out
    fillers = _draw(rng, PERSON, 2 * len(facts), p=names[0])   # all about one person: no sentence repeats
    return [_wrap(f, fillers[2 * i:2 * i + 2]) for i, f in enumerate(facts)]

"""Real vocabularies for the generated suite tasks, all read from the package's own data (real_data): no
digits, no made-up words.

- `titles`: Wikipedia article titles of the NQ-Open oracle passages (Liu et al., MIT), plain ones only (letters,
  spaces, hyphens, apostrophes, a parenthesised qualifier; 1-6 words);
- `entities`: NQ-Open short answers that look like names (capitalised, letters only, 1-3 words): people,
  places, works;
  both only from questions outside NQ's `train` half (real_data.nq_split_of) and never one a `train` question
  also has, so no key or value is ever in MDQA training data (tasks.baselines.mdqa_train reads only `train`);
- `words`: lowercase words of 6-11 letters from the Paul Graham essays' `padding` half (real_data.essay_part;
  the NIAH baseline trains on the other half).

Each vocabulary is split into the suite's dev and eval halves by a hash of the entry (suite.split), so a dev
item and an eval item share no key and no value.
"""
from __future__ import annotations

import re
from functools import lru_cache

from .split import split_of

_TITLE = re.compile(r"[A-Z][A-Za-z'\- ]+(?: \([A-Za-z ]+\))?")
_ENTITY = re.compile(r"[A-Z][A-Za-z'\-]+(?: [A-Z][A-Za-z'\-]+){0,2}")
_WORD = re.compile(r"\b[a-z]{6,11}\b")


def _split(entries: list[str], family: str, split: str) -> tuple[str, ...]:
    return tuple(e for e in entries if split_of(e, family) == split)


def _nq_halves(nq_file: str | None) -> tuple[list[dict], list[dict]]:
    """NQ records of the `train` half, and of the others (real_data's documented split)."""
    from ...real_data import load_nq, nq_split_of
    recs = load_nq(nq_file)
    return ([r for r in recs if nq_split_of(r["question"]) == "train"],
            [r for r in recs if nq_split_of(r["question"]) != "train"])


@lru_cache(maxsize=8)
def titles(split: str, nq_file: str | None = None) -> tuple[str, ...]:
    train, held = _nq_halves(nq_file)
    seen_in_train = {c["title"].strip() for r in train for c in r["ctxs"]}
    found = {c["title"].strip() for r in held for c in r["ctxs"]} - seen_in_train
    keep = sorted(t for t in found if _TITLE.fullmatch(t) and len(t.split()) <= 6)
    return _split(keep, "vocab/titles", split)


@lru_cache(maxsize=8)
def entities(split: str, nq_file: str | None = None) -> tuple[str, ...]:
    train, held = _nq_halves(nq_file)
    found = {a.strip() for r in held for a in r["answers"]} - {a.strip() for r in train for a in r["answers"]}
    keep = sorted(a for a in found if _ENTITY.fullmatch(a) and len(a) >= 4)
    return _split(keep, "vocab/entities", split)


@lru_cache(maxsize=8)
def words(split: str, essays: str | None = None) -> tuple[str, ...]:
    from ...real_data import load_essays
    found = set(_WORD.findall(load_essays(essays, part=None if essays else "padding")))
    return _split(sorted(found), "vocab/words", split)

"""The associative needle's authored data (needlework/resources/associations, MIT, our own work): landmarks and
dishes with the country each is known for, and the characters' first names; the needle and question templates;
and the rule that makes the needle non-literal: the question shares no content word with the needle.

Needles: "<name> lives next to <landmark>." asked "Which character has been to <country>?", and "<name> cooks
<dish> every Sunday." asked "Which character knows a recipe from <country>?". Only the association the
model already has (the Eiffel Tower is in France) links them (NoLiMa, Modarressi et al. 2025).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ...config import ConfigError

FOLDER = Path(__file__).resolve().parents[2] / "resources" / "associations"
NEEDLE = {"landmark": "{name} lives next to {cue}.", "dish": "{name} cooks {cue} every Sunday."}
QUESTION = {"landmark": "Which character has been to {place}?", "dish": "Which character knows a recipe from {place}?"}
STOPWORDS = frozenset("a an the of to from in on at by for and or next every which who what has have been is are "
                      "was were be with as".split())


@dataclass(frozen=True)
class Association:
    kind: str      # landmark | dish
    cue: str       # what the needle names
    place: str     # what the question names

    def needle(self, name: str) -> str:
        return NEEDLE[self.kind].format(name=name, cue=self.cue)

    @property
    def question(self) -> str:
        return QUESTION[self.kind].format(place=self.place)


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOPWORDS}


@lru_cache(maxsize=4)
def load_associations(path: str | None = None) -> tuple[Association, ...]:
    p = Path(path) if path else FOLDER / "associations.tsv"
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConfigError(f"cannot read associations {p}: {e}") from None
    out = []
    for i, line in enumerate(lines[1:], 2):
        parts = line.split("\t")
        if len(parts) != 3 or parts[0] not in NEEDLE or not all(x.strip() for x in parts):
            raise ConfigError(f"{p}:{i}: expected 'landmark|dish<TAB>cue<TAB>place', got {line!r}")
        out.append(Association(*(x.strip() for x in parts)))
    return tuple(out)


@lru_cache(maxsize=4)
def load_names(path: str | None = None) -> tuple[str, ...]:
    p = Path(path) if path else FOLDER / "names.txt"
    try:
        names = tuple(n.strip() for n in p.read_text(encoding="utf-8").splitlines() if n.strip())
    except OSError as e:
        raise ConfigError(f"cannot read names {p}: {e}") from None
    if len(set(names)) != len(names):
        raise ConfigError(f"{p}: names repeat")
    return names


def literal_overlap(a: Association, name: str = "Yuki") -> set[str]:
    """The content words the needle and its question share (empty for a non-literal pair)."""
    return content_words(a.needle(name)) & content_words(a.question)

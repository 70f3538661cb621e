"""The suite's one documented dev/eval split, mirroring needlework.real_data's NQ split: by a hash of an item's
source id, never by file order or seed, so a recipe chosen on `dev` never saw an `eval` item.

A source id is what an item is made of: a SQuAD or SciQ paragraph (its text, so every question on one paragraph
falls in one half and the halves share no passage), a vocabulary entry (a record key, an association). Its
SHA-256's first 8 hex digits, read as a fraction of the range, below EVAL_FRACTION -> `eval`, else `dev`. No
suite task trains on anything: there is no `train` half. The hash is salted with the task family so two tasks
reading one vocabulary split it independently.
"""
from __future__ import annotations

import hashlib
from typing import Literal

from ...config import ConfigError

EVAL_FRACTION = 0.5
SPLITS = ("eval", "dev")
Split = Literal["eval", "dev"]


def split_of(source_id: str, family: str) -> str:
    """`eval` or `dev` for one source id of one task family (e.g. split_of(paragraph, "squad"))."""
    h = int(hashlib.sha256(f"{family}\n{source_id}".encode("utf-8")).hexdigest()[:8], 16) / 16**8
    return "eval" if h < EVAL_FRACTION else "dev"


def check_split(split: str, where: str) -> None:
    if split not in SPLITS:
        raise ConfigError(f"{where}.split must be one of {', '.join(SPLITS)}, got {split!r}")


def stable_id(text: str, n: int = 12) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]

"""The essay haystack the needle tasks plant sentences in: the Paul Graham essays' `padding` half
(real_data.essay_part: the NIAH baseline trains on the other half; FLenQA pads with this one), as whole
sentences, a seeded window of them, needles inserted as sentences of their own."""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from ...text import sentence_spans

Sentence = tuple[int, str]    # (paragraph number, sentence)


@lru_cache(maxsize=4)
def sentences(avoid: tuple[str, ...] = ()) -> tuple[Sentence, ...]:
    """The padding essays' sentences; paragraphs naming any word of `avoid` (whole words) are dropped."""
    from ...real_data import load_essays
    named = re.compile(r"\b(?:" + "|".join(map(re.escape, avoid)) + r")\b") if avoid else None
    out = []
    for p, para in enumerate(load_essays(part="padding").split("\n\n")):
        para = " ".join(para.split())
        if para and not (named and named.search(para)):
            out += [(p, para[a:b].strip()) for a, b in sentence_spans(para) if para[a:b].strip()]
    return tuple(out)


def window(sents: tuple[Sentence, ...], chars: int, rng: np.random.Generator) -> list[Sentence]:
    """Whole sentences from a seeded start (wrapping around) until `chars` characters."""
    start = int(rng.integers(0, len(sents)))
    out, total = [], 0
    for j in range(len(sents)):
        out.append(sents[(start + j) % len(sents)])
        total += len(out[-1][1]) + 1
        if total >= chars:
            break
    return out


def _join(win: list[Sentence]) -> str:
    text = ""
    for j, (p, s) in enumerate(win):
        text += ("" if j == 0 else " " if p == win[j - 1][0] else "\n\n") + s
    return text


def plant(win: list[Sentence], needles: dict[int, str]) -> str:
    """The window with each needle inserted as a sentence of its own before sentence index k (k = len: at the
    end), in the paragraph of its neighbour."""
    out: list[Sentence] = []
    for k in range(len(win) + 1):
        if k in needles:
            out.append((win[min(k, len(win) - 1)][0], needles[k]))
        if k < len(win):
            out.append(win[k])
    return _join(out)


def spots(win: list[Sentence], first: int, count: int, rng: np.random.Generator) -> list[int]:
    """count insertion points other than `first`, seeded: distinct while the window has room, else some shared
    (gather puts needles that share a point one after the other)."""
    free = [k for k in range(len(win) + 1) if k != first] or [first]
    order = [free[j] for j in rng.permutation(len(free))]
    return [order[j % len(order)] for j in range(count)]


def gather(placed: list[tuple[int, str]]) -> dict[int, str]:
    """{insertion point: its needles as consecutive sentences}, in the order given."""
    out: dict[int, str] = {}
    for k, needle in placed:
        out[k] = f"{out[k]} {needle}" if k in out else needle
    return out

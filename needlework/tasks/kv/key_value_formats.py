"""Key and value formats beyond integers (words, random strings, UUIDs) and the two ways to write a
dictionary (a Python dict repr or a JSON object), for formatted_kv.

Words are generated, not read from a list: three consonant-vowel syllables ("bakomi"), 421,875 of them,
pronounceable and free of any licence or download. Every draw is vectorised over one generator call and
repeats are replaced by redrawing only the repeated items (rare: the spaces are large), so the work per
draw is bounded in practice and fixed by (seed, index).
"""
from __future__ import annotations

import json

import numpy as np

from ..numbers import draw as draw_numbers
from ..numbers import space_size

FORMATS = ("number", "word", "string", "uuid")
RENDERS = ("python", "json")
CONSONANTS, VOWELS, SYLLABLES = "bdfghklmnprstvz", "aeiou", 3
STRING_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
STRING_LEN = 8
NOUN = {"number": ("an integer", "integers"), "word": ("a word", "words"),
        "string": ("a random string", "random strings"), "uuid": ("a UUID", "UUIDs")}
MAX_REDRAWS = 64

_SYL = [c + v for c in CONSONANTS for v in VOWELS]
_HEX = np.array(list("0123456789abcdef"))
_ALNUM = np.array(list(STRING_ALPHABET))


def space(fmt: str, digits: tuple[int, int]) -> int:
    """How many distinct items a format can produce."""
    if fmt == "number":
        return space_size(*digits)
    if fmt == "word":
        return len(_SYL) ** SYLLABLES
    return 10**12   # strings (36^8) and UUIDs (16^30): never the limit


def _raw(fmt: str, rng: np.random.Generator, n: int, digits: tuple[int, int], exclude: set) -> list:
    if fmt == "number":
        ints = [x for x in exclude if isinstance(x, int)]
        return draw_numbers(rng, n, *digits, exclude=set(ints) if ints else None).tolist()
    if fmt == "word":
        idx = rng.integers(len(_SYL), size=(n, SYLLABLES)).tolist()
        return ["".join(_SYL[i] for i in row) for row in idx]
    if fmt == "string":
        return ["".join(row) for row in _ALNUM[rng.integers(len(_ALNUM), size=(n, STRING_LEN))].tolist()]
    h = _HEX[rng.integers(16, size=(n, 32))]
    h[:, 12] = "4"                                      # version 4
    h[:, 16] = _HEX[8 + rng.integers(4, size=n)]        # RFC 4122 variant: 8, 9, a or b
    return [f"{s[:8]}-{s[8:12]}-{s[12:16]}-{s[16:20]}-{s[20:]}" for s in map("".join, h.tolist())]


def draw(fmt: str, rng: np.random.Generator, n: int, digits: tuple[int, int], exclude: set = frozenset(),
         unique: bool = False) -> list:
    """n items of `fmt`, none in `exclude`; with `unique`, no two equal. Numbers are ints, the rest str."""
    out = _raw(fmt, rng, n, digits, set(exclude))
    for _ in range(MAX_REDRAWS):
        seen, bad = set(exclude), []
        for i, x in enumerate(out):
            if x in seen and (unique or x in exclude):
                bad.append(i)
            elif unique:
                seen.add(x)
        if not bad:
            return out
        fresh = _raw(fmt, rng, len(bad), digits, set(exclude))
        for i, x in zip(bad, fresh):
            out[i] = x
    raise ValueError(f"could not draw {n} distinct {fmt} items outside {len(exclude)} excluded ones")


def literal(x, render: str) -> str:
    """One key or value as the dictionary writes it: 123, 'bakomi' (Python) or "bakomi" (JSON)."""
    if isinstance(x, list):
        return "[" + ", ".join(literal(v, render) for v in x) + "]"
    if render == "json" or isinstance(x, int):
        return json.dumps(x)
    return repr(x)


def key_literal(k, render: str) -> str:
    """JSON object keys are always strings, so a number key is quoted there."""
    return json.dumps(str(k)) if render == "json" else literal(k, render)


def body(keys: list, values: list, render: str) -> str:
    """The dictionary as Python's repr or json.dumps writes it (both use ', ' and ': ')."""
    return "{" + ", ".join([f"{key_literal(k, render)}: {literal(v, render)}" for k, v in zip(keys, values)]) + "}"

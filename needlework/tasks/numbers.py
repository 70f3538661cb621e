"""Random integers the way the paper draws them: a digit count uniform in [r_min, r_max], then a number
uniform among the numbers with that many digits. Exclusions are built into the draw (never by redrawing),
so every call terminates after a fixed amount of work.
"""
from __future__ import annotations

import numpy as np


_POW10 = 10 ** np.arange(19, dtype=np.int64)


def class_size(digits: int) -> int:
    return 9 * 10 ** (digits - 1)


def space_size(r_min: int, r_max: int) -> int:
    return sum(class_size(d) for d in range(r_min, r_max + 1))


def n_digits(x: int) -> int:
    return len(str(x))


def _digit_count(x: np.ndarray) -> np.ndarray:
    return np.searchsorted(_POW10, x, side="right")


def _below(u: np.ndarray, high: np.ndarray) -> np.ndarray:
    """floor(u * high) for uniforms u in [0, 1): a uniform integer in [0, high); the clip guards rounding."""
    return np.minimum((u * high).astype(np.int64), high - 1)


def draw(rng: np.random.Generator, n: int, r_min: int, r_max: int,
         exclude: int | list[int] | set[int] | np.ndarray | None = None) -> np.ndarray:
    """n numbers, none in `exclude`: each class is drawn as many numbers smaller as it has exclusions,
    then shifted past every excluded number at or below the draw (in increasing order).

    One call to the generator gives 2n uniforms (digit counts, then positions in the class): generator
    calls, not arithmetic, dominate at the sizes used here."""
    u = rng.random(2 * n)
    digits = r_min + _below(u[:n], r_max - r_min + 1)
    lo = _POW10[digits - 1]
    size = 9 * lo
    if exclude is None:
        return lo + _below(u[n:], size)
    if isinstance(exclude, np.ndarray):   # one excluded number per draw (vectorised fast path)
        same = digits == _digit_count(exclude)
        x = lo + _below(u[n:], size - same)
        return x + (same & (x >= exclude))
    excluded = sorted({exclude} if isinstance(exclude, int) else set(exclude))
    ex_digits = np.array([n_digits(e) for e in excluded])
    in_class = (digits[:, None] == ex_digits[None, :]).sum(axis=1)
    x = lo + _below(u[n:], size - in_class)
    for e, d in zip(excluded, ex_digits):
        x = x + ((digits == d) & (x >= e))
    return x


def draw_one_excluding(rng: np.random.Generator, r_min: int, r_max: int, excluded: set[int]) -> int:
    """One number outside `excluded`: pick the digit class uniformly among classes with room, then the
    k-th free number of that class (skipping excluded ones in order)."""
    classes = []
    for d in range(r_min, r_max + 1):
        lo, hi = 10 ** (d - 1), 10 ** d - 1
        taken = sorted(x for x in excluded if lo <= x <= hi)
        if class_size(d) > len(taken):
            classes.append((lo, taken))
    if not classes:
        raise ValueError(f"no {r_min}-{r_max} digit number is left outside {len(excluded)} excluded ones")
    lo, taken = classes[int(rng.integers(len(classes)))]
    x = lo + int(rng.integers(class_size(n_digits(lo)) - len(taken)))
    # The r-th free number: walk the sorted exclusions, each one at or below the candidate pushes it up.
    for t in taken:
        if t > x:
            break
        x += 1
    return x


def unique_within(rng: np.random.Generator, keys: list[int], r_min: int, r_max: int,
                  forbidden: set[int]) -> list[int]:
    """Replace repeats (and forbidden numbers) in `keys` by fresh numbers so that the list has no duplicates."""
    seen = set(forbidden)
    out = []
    for k in keys:
        if k in seen:
            k = draw_one_excluding(rng, r_min, r_max, seen)
        seen.add(k)
        out.append(k)
    return out

"""Invariants of variable_tracking rows, re-derived from the prompt text alone (for `needlework validate`).

Every line is RULER's noise sentence or one assignment; each variable is assigned once, only from a number
or from a variable assigned on an earlier line; numbers of different chains differ; the answer is what
following the chains gives.
"""
from __future__ import annotations

import re

from .. import variable_tracking as vt
from ..base import Invalid
from ..kv.common import TEMPLATE_INTRO

NUMBER = re.compile(r"VAR ([A-Z]{5}) = ([1-9]\d*)")
COPY = re.compile(r"VAR ([A-Z]{5}) = VAR ([A-Z]{5})")


def _chains(body: str) -> tuple[dict[str, int], dict[str, int], dict[str, str]]:
    """(variable -> its number, variable -> hops to the number, variable -> line of the chain's number)."""
    value, hops, origin, line_of = {}, {}, {}, {}
    for i, line in enumerate(body.split("\n"), 1):
        if line == vt.NOISE:
            continue
        m, c = NUMBER.fullmatch(line), COPY.fullmatch(line)
        if not (m or c):
            raise Invalid(f"line {i} is neither noise nor an assignment: {line[:80]!r}")
        name = (m or c).group(1)
        if name in value:
            raise Invalid(f"variable {name} is assigned twice (again on line {i})")
        if m:
            value[name], hops[name], origin[name] = int(m.group(2)), 0, name
            line_of[name] = i
        else:
            src = c.group(2)
            if src not in value:
                raise Invalid(f"line {i} copies {src}, which is not assigned on an earlier line")
            value[name], hops[name], origin[name] = value[src], hops[src] + 1, origin[src]
    numbers = [value[n] for n in value if hops[n] == 0]
    if len(set(numbers)) != len(numbers):
        raise Invalid("two chains start from the same number")
    return value, hops, {n: line_of[origin[n]] for n in value}


def check_variable_tracking(prompt: str, answer: str, meta: dict) -> None:
    if not prompt.startswith(vt.HEAD):
        raise Invalid("prompt does not start with RULER's variable tracking instruction")
    body, sep, tail = prompt[len(vt.HEAD):].partition("\n\n")
    if not sep:
        raise Invalid("no blank line between the text and the question")
    value, hops, first_line = _chains(body)
    q, template = tail.partition(TEMPLATE_INTRO)[::2]
    mv = re.fullmatch(vt.Q_VALUE.replace("?", r"\?").format(var="([A-Z]{5})"), q)
    mn = re.fullmatch(vt.Q_NAMES.replace(".", r"\.").format(value=r"(\d+)"), q)
    if mv:
        var = mv.group(1)
        if var not in value:
            raise Invalid(f"the question asks variable {var}, which is never assigned")
        gold, expected = value[var], vt.A_VALUE.format(var=var, value=value[var])
        t = vt.A_VALUE.format(var=var, value="<fill-in-value>")
        if hops[var] != max(h for n, h in hops.items() if value[n] == gold):
            raise Invalid(f"the asked variable {var} is not the last of its chain")
    elif mn:
        gold = int(mn.group(1))
        names = [n for n in value if value[n] == gold]   # in line order (dicts keep insertion order)
        if not names:
            raise Invalid(f"no variable holds the asked value {gold}")
        var, expected = names[-1], vt.A_NAMES.format(value=gold, names=", ".join(names))
        t = vt.A_NAMES.format(value=gold, names="<fill-in-variables>")
    else:
        raise Invalid("question does not match the variable_tracking wording")
    if template not in ("", t) or (tail != q and not template):
        raise Invalid("answer template does not match the variable_tracking wording")
    if answer != expected:
        raise Invalid(f"answer {answer!r} != expected {expected!r}")
    if "hops" in meta and meta["hops"] != hops[var]:
        raise Invalid(f"meta hops={meta['hops']} but the asked chain has {hops[var]}")
    truth = {"gold_value": gold, "gold_var": var, "gold_line": first_line[var],
             "num_lines": body.split("\n").count(vt.NOISE)}
    for k, v in truth.items():
        if k in meta and meta[k] != v:
            raise Invalid(f"meta {k}={meta[k]!r} disagrees with the prompt ({v!r})")

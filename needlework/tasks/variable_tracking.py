"""Variable tracking / multi-hop retrieval (RULER's variable tracking: Hsieh et al. 2024).

Chains of assignments `VAR ABCDE = 12345`, `VAR FGHIJ = VAR ABCDE`, ... hide among repeated noise lines,
one statement or noise sentence per line. A chain has `hops` variable-to-variable assignments after its
number, always in reading order. `question: value` asks the value of the asked chain's last variable (the
answer needs `hops` hops back to the number); `question: names` is RULER's question (every variable that
holds a given value). Other chains are distractors with their own names and values.

Length axis: `num_lines` noise lines, or `target_tokens` / `max_tokens` as for the dictionary tasks.
Position axis: where the asked chain's number sits, as a 1-based line (`gold_position`) or a fraction of the
lines (`gold_depth`); its later assignments follow at uniformly drawn later lines.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import ConfigError
from .base import Sample, TokenCount, count_under_max
from .kv.common import TEMPLATE_INTRO, gold_positions
from .numbers import draw, space_size, unique_within

NAME = "variable_tracking"
HEAD = "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n"
NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."   # RULER's
NAME_LEN = 5
Q_VALUE = "Question: What is the value of variable {var}, following its chain of assignments in the text above?"
A_VALUE = "The value of variable {var} is {value}."
Q_NAMES = "Question: Find all variables that are assigned the value {value} in the text above."
A_NAMES = "The variables assigned the value {value} are {names}."
DEFAULT_NUM_LINES = 100


@dataclass
class VariableTrackingConfig:
    hops: int = field(default=4, metadata={"help": "Variable-to-variable assignments after the number."})
    num_chains: int = field(default=1, metadata={
        "help": "Chains in the text; one is asked, the rest are distractors."})
    num_lines: int | None = field(default=None, metadata={
        "help": "Noise lines in the text (null: 100); or set target_tokens instead."})
    question: str = field(default="value", metadata={
        "help": "What is asked: value (the last variable's value, `hops` hops away) | names (RULER: all the "
                "chain's variables)."})
    digits: tuple[int, int] = field(default=(5, 5), metadata={"help": "Digits of the chains' numbers."})
    template: bool = field(default=True, metadata={"help": "Append the answer template to the question."})
    gold_position: str | int | list[int] = field(default="uniform", metadata={
        "help": "Where the asked chain's number sits: 'uniform', a 1-based line, or a list swept by sample index."})
    gold_depth: float | list[float] | None = field(default=None, metadata={
        "help": "Alternative to gold_position: the fraction of the way through (0 first, 1 as late as fits); a "
                "list is swept by sample index."})
    max_tokens: int | None = field(default=None, metadata={
        "help": "Draws whose prompt exceeds this many tokens are rejected (null: no limit)."})
    target_tokens: int | None = field(default=None, metadata={
        "help": "Choose the number of noise lines that fills this token budget (needs a tokenizer)."})

    def validate(self) -> None:
        if self.hops < 1 or self.num_chains < 1:
            raise ConfigError(f"hops and num_chains must be >= 1, got {self.hops} and {self.num_chains}")
        if self.question not in ("value", "names"):
            raise ConfigError(f"question must be 'value' or 'names', got {self.question!r}")
        r_min, r_max = self.digits
        if not 1 <= r_min <= r_max <= 15 or space_size(r_min, r_max) < self.num_chains:
            raise ConfigError(f"digits: need 1 <= r_min <= r_max <= 15 and one distinct number per chain, got "
                              f"{list(self.digits)}")
        if self.target_tokens is not None and (self.num_lines is not None or self.max_tokens is not None):
            raise ConfigError("target_tokens chooses the number of lines: leave num_lines and max_tokens unset")
        for name in ("num_lines", "max_tokens", "target_tokens"):
            v = getattr(self, name)
            if v is not None and v < (0 if name == "num_lines" else 1):
                raise ConfigError(f"{name} must be positive, got {v}")
        total = self.num_statements() + (self.num_lines if self.num_lines is not None else DEFAULT_NUM_LINES)
        last = total - self.hops if self.target_tokens is None else None   # a token target: known per sample
        for p in gold_positions(self.gold_position, self.gold_depth, "the asked chain"):
            if isinstance(p, int) and (p < 1 or (last is not None and p > last)):
                raise ConfigError(f"gold_position {p} leaves no room for {self.hops} later assignments "
                                  f"among {total} lines (allowed: 1..{total - self.hops})")

    def num_statements(self) -> int:
        return self.num_chains * (self.hops + 1)


def _names(rng: np.random.Generator, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:   # repeats among 26^5 names are rare; redraw only what is missing
        rows = rng.integers(26, size=(n - len(out), NAME_LEN)) + ord("A")
        for row in rows.tolist():
            name = "".join(map(chr, row))
            if name not in out:
                out.append(name)
    return out


def question(cfg: VariableTrackingConfig, var: str, value: int) -> str:
    if cfg.question == "value":
        q, t = Q_VALUE.format(var=var), A_VALUE.format(var=var, value="<fill-in-value>")
    else:
        q, t = Q_NAMES.format(value=value), A_NAMES.format(value=value, names="<fill-in-variables>")
    return q + TEMPLATE_INTRO + t if cfg.template else q


def _layout(cfg, rng, chains: list[list[str]], values: list[int], n_noise: int) -> tuple[list[str], int]:
    """Every line of the text, and the 1-based line of the asked chain's (chain 0's) number."""
    total, k = n_noise + cfg.num_statements(), cfg.hops
    if cfg.gold_depth is not None:
        first = 1 + int(round(cfg.gold_depth * (total - k - 1)))
    elif isinstance(cfg.gold_position, int):
        if cfg.gold_position > total - k:
            raise ConfigError(f"gold_position {cfg.gold_position} leaves no room for {k} later assignments among "
                              f"the {total} lines that fit the budget")
        first = cfg.gold_position
    else:
        first = 1 + int(rng.integers(total - k))
    later = first + 1 + np.sort(rng.choice(total - first, size=k, replace=False))
    taken = {first, *later.tolist()}
    free = np.array([i for i in range(1, total + 1) if i not in taken])
    others = rng.permutation(free)[: cfg.num_statements() - k - 1].tolist()
    lines = [NOISE] * total
    slots = [[first, *later.tolist()]] + [sorted(others[c * (k + 1):(c + 1) * (k + 1)])
                                          for c in range(cfg.num_chains - 1)]
    for names, value, at in zip(chains, values, slots):
        lines[at[0] - 1] = f"VAR {names[0]} = {value}"
        for prev, name, line in zip(names, names[1:], at[1:]):
            lines[line - 1] = f"VAR {name} = VAR {prev}"
    return lines, first


def generate(cfg: VariableTrackingConfig, rng: np.random.Generator, count_tokens: TokenCount | None = None) -> Sample:
    names = _names(rng, cfg.num_statements())
    chains = [names[c * (cfg.hops + 1):(c + 1) * (cfg.hops + 1)] for c in range(cfg.num_chains)]
    values = unique_within(rng, draw(rng, cfg.num_chains, *cfg.digits).tolist(), *cfg.digits, set())   # distinct
    tail = question(cfg, chains[0][-1], values[0])
    base = int(rng.integers(2**62))   # the layout for n noise lines is a function of (base, n) only

    def build(n_noise: int) -> tuple[str, int]:
        lines, first = _layout(cfg, np.random.default_rng([base, n_noise]), chains, values, n_noise)
        return HEAD + "\n".join(lines) + "\n\n" + tail, first

    if cfg.target_tokens is None:
        n_noise = cfg.num_lines if cfg.num_lines is not None else DEFAULT_NUM_LINES
        prompt, first = build(n_noise)
        tokens = count_under_max(prompt, count_tokens, cfg.max_tokens)
    else:
        n_noise, prompt, first, tokens = _fill(cfg, build, count_tokens)
    answer = (A_VALUE.format(var=chains[0][-1], value=values[0]) if cfg.question == "value" else
              A_NAMES.format(value=values[0], names=", ".join(chains[0])))
    return Sample(task=NAME, prompt=prompt, answer=answer,
                  meta={"gold_var": chains[0][-1], "gold_value": values[0], "gold_chain": chains[0],
                        "gold_line": first, "num_lines": n_noise, "hops": cfg.hops, "question": cfg.question,
                        "distractor_values": values[1:], "distractor_vars": names[cfg.hops + 1:],
                        "depth": round(prompt.index(f"VAR {chains[0][0]} = ") / len(prompt), 6),
                        "n_tokens": tokens, "template": cfg.template})


def _fill(cfg: VariableTrackingConfig, build, count: TokenCount | None):
    """The most noise lines whose prompt fits target_tokens (exponential, then binary search)."""
    if count is None:
        raise ConfigError("target_tokens needs a tokenizer to count tokens; set tokenizer")
    budget = cfg.target_tokens
    if count(build(0)[0]) > budget:
        raise ConfigError(f"target_tokens={budget} is smaller than the chains and the question alone; raise it")
    lo, hi = 0, 1
    while hi <= budget and count(build(hi)[0]) <= budget:   # every noise line adds tokens, so this ends
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(build(mid)[0]) <= budget else (lo, mid)
    prompt, first = build(lo)
    return lo, prompt, first, count(prompt)


# ------------------------------------------------------------------ scoring a free-text completion
METRICS = ("answer_acc", "answer_recall")


def score(meta: dict, completion: str) -> dict[str, float]:
    """value question: answer_acc = the chain's value is in the completion and no distractor chain's value is.
    names question: answer_recall = the fraction of the chain's variables named (RULER's metric); answer_acc
    = all of them and none of the distractor chains' variables."""
    from .kv.formatted_kv import mentions
    if meta["question"] == "value":
        ok = mentions(completion, meta["gold_value"]) and not any(mentions(completion, v)
                                                                  for v in meta["distractor_values"])
        return {"answer_acc": float(ok), "answer_recall": float(mentions(completion, meta["gold_value"]))}
    found = [mentions(completion, v) for v in meta["gold_chain"]]
    clean = not any(mentions(completion, v) for v in meta["distractor_vars"])
    return {"answer_acc": float(all(found) and clean), "answer_recall": sum(found) / len(found)}

"""Needle-in-a-haystack fine-tuning samples (Kamradt; the paper's §3.4 baseline; REFERENCE.md §6).

A needle sentence is inserted at a sentence boundary at a chosen depth of Paul Graham essay text, cut to
fit a token budget; the question asks for the needle's content. `needle: kamradt` uses the original
needle for every sample (as the public test does); `needle: random` draws a fresh fact per sample so a
training set is not one memorisable sentence.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...config import ConfigError
from ...real_data import load_essays
from ...text import sentence_spans
from ..base import BudgetExceeded, Sample, TokenCount

NAME = "niah"
KAMRADT_NEEDLE = "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day."
KAMRADT_QUESTION = "What is the best thing to do in San Francisco?"
PROMPT = "<context>\n{context}\n</context>\n\n{question} Don't give information outside the document or repeat your findings"
RANDOM_WORDS = ("amber", "bishop", "canyon", "dahlia", "ember", "falcon", "glacier", "harbor", "indigo", "juniper",
                "kestrel", "lantern", "meadow", "nectar", "orchid", "pepper", "quartz", "raven", "saffron", "thistle",
                "umber", "velvet", "willow", "yarrow", "zephyr")


@dataclass
class NIAHConfig:
    context_tokens: int | None = field(default=None, metadata={
        "help": "Cut the haystack so the whole prompt fits this many tokens (needs a tokenizer); null: use "
                "context_chars."})
    context_chars: int = field(default=8000, metadata={"help": "Without a tokenizer: haystack length in characters."})
    depth: str | float | list[float] = field(default="uniform", metadata={
        "help": "Where the needle sits: 'uniform', or a fraction (0 start, 1 end); a list is swept by sample "
                "index."})
    needle: str = field(default="random", metadata={
        "help": "The needle: 'random' (a fresh fact per sample) or 'kamradt' (the classic San Francisco sentence)."})
    haystack_dir: str | None = field(default=None, metadata={
        "help": "Folder of essays for the haystack; null: the packaged essays' haystack half "
                "(real_data.essay_part)."})

    def validate(self) -> None:
        if self.needle not in ("random", "kamradt"):
            raise ConfigError(f"needle must be 'random' or 'kamradt', got {self.needle!r}")
        depths = self.depth if isinstance(self.depth, list) else [self.depth]
        for d in depths:
            if isinstance(d, str) and d != "uniform":
                raise ConfigError(f"depth must be 'uniform', a number in [0, 1] or a list, got {d!r}")
            if not isinstance(d, str) and not 0.0 <= d <= 1.0:
                raise ConfigError(f"depth must lie in [0, 1], got {d}")
        if self.context_tokens is not None and self.context_tokens < 32:
            raise ConfigError(f"context_tokens={self.context_tokens} is too small for a haystack")
        if self.context_chars < 1:
            raise ConfigError(f"context_chars must be positive, got {self.context_chars}")
        load_essays(self.haystack_dir, "haystack")


def make_needle(cfg: NIAHConfig, rng: np.random.Generator) -> tuple[str, str, str]:
    """(needle sentence, question, target answer)."""
    if cfg.needle == "kamradt":
        return KAMRADT_NEEDLE, KAMRADT_QUESTION, KAMRADT_NEEDLE
    word = RANDOM_WORDS[int(rng.integers(len(RANDOM_WORDS)))]
    number = int(rng.integers(1_000_000, 10_000_000))
    needle = f"The special magic number for {word} is {number}."
    return needle, f"What is the special magic number for {word}?", needle


def _insert(hay: str, needle: str, depth: float) -> tuple[str, float]:
    """Put the needle at the sentence boundary nearest to `depth` of the haystack's characters."""
    bounds = [0] + [end for _, end in sentence_spans(hay)]
    target = depth * len(hay)
    at = min(bounds, key=lambda b: abs(b - target))
    text = hay[:at].rstrip() + (" " if at else "") + needle + (" " + hay[at:].lstrip() if hay[at:].strip() else "")
    return text, round(text.index(needle) / max(len(text), 1), 6)


def generate(cfg: NIAHConfig, rng: np.random.Generator, count_tokens: TokenCount | None = None) -> Sample:
    essays = load_essays(cfg.haystack_dir, "haystack")   # FLenQA pads with the other half
    spans = sentence_spans(essays)
    start = spans[int(rng.integers(len(spans)))][0]   # a random sentence start; the text wraps around
    source = essays[start:] + "\n\n" + essays[:start]
    needle, question, answer = make_needle(cfg, rng)
    depth = float(rng.random()) if cfg.depth == "uniform" else float(cfg.depth)

    def build(n_chars: int) -> tuple[str, float]:
        hay = source[:n_chars]
        cut = [end for _, end in sentence_spans(hay)]
        hay = hay[: cut[-2]] if len(cut) > 1 else hay   # end on a full sentence
        context, d = _insert(hay, needle, depth)
        return PROMPT.format(context=context, question=question), d

    if cfg.context_tokens is None:
        prompt, d = build(cfg.context_chars)
        tokens = count_tokens(prompt) if count_tokens else None
    else:
        if count_tokens is None:
            raise ConfigError("context_tokens needs a tokenizer to count tokens; set tokenizer")
        lo, hi = 0, min(len(source), cfg.context_tokens * 12)   # no tokenizer packs more than ~12 chars per token
        if count_tokens(build(0)[0]) > cfg.context_tokens:
            raise ConfigError(f"context_tokens={cfg.context_tokens} is smaller than the question and needle alone")
        while hi - lo > 64:   # binary search on characters; each step halves the interval
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if count_tokens(build(mid)[0]) <= cfg.context_tokens else (lo, mid)
        prompt, d = build(lo)
        tokens = count_tokens(prompt)
        if tokens > cfg.context_tokens:
            raise BudgetExceeded(f"{tokens} > context_tokens")
    return Sample(task=NAME, prompt=prompt, answer=answer,
                  meta={"needle": needle, "question": question, "depth": d, "target_depth": round(depth, 6),
                        "n_tokens": tokens})

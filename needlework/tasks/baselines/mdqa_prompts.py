"""MDQA prompts, built once: the gold-position layout, Liu et al.'s prompt and the request that asks it, for the
MDQA benchmark (evals.mdqa) and the training-time MDQA probe (train.mdqa_probe) alike.

It lies here, below both `evals/` and `train/` (which may not import each other), so the probe asks exactly what
the benchmark asks for the same settings: same questions (mdqa_sets), same gold positions in the same order,
same prompt text byte for byte (mdqa_train.mdqa_prompt, also the training data's), same stop rule.
`tests/train/test_mdqa_probe.py` checks the two agree.

Layouts: `every` asks each question at every gold position (positions compared on paired prompts, Liu et al.);
`rotate` asks question i once, with its gold document at positions[i % len(positions)].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...backends.base import Request
from .mdqa_sets import Question, qhash, with_gold_at
from .mdqa_train import mdqa_prompt

Layout = Literal["every", "rotate"]


@dataclass(frozen=True)
class MDQAPrompt:
    """One question asked with its gold document at one position."""
    id: str                    # <question hash>/k=<documents>/pos=<gold position>
    cluster: str               # <question hash>/k=<documents>: one question, whatever its position
    position: int              # 1-based gold position
    question: Question         # (NQ record, gold document, distractor documents in prompt order)
    prompt: str                # the rendered prompt (no trailing newline)
    request: Request


def questions_needed(n: int, positions: list[int], layout: Layout) -> int:
    """How many distinct questions `n` prompts per position take: n (every) or n x len(positions) (rotate)."""
    return n * len(positions) if layout == "rotate" else n


def arrange(sets: list[Question], positions: list[int], layout: Layout) -> list[tuple[int, Question]]:
    """(gold position, question) in asking order."""
    if layout == "rotate":
        return [(positions[i % len(positions)], q) for i, q in enumerate(sets)]
    return [(pos, q) for pos in positions for q in sets]


def build_prompts(sets: list[Question], positions: list[int], layout: Layout, max_new_tokens: int,
                  chat: bool = True, stop_at_newline: bool = True) -> list[MDQAPrompt]:
    """The prompts and requests of `sets` laid out by `layout`: a user message (chat) or a plain prompt, stopped at
    the first newline when `stop_at_newline` (only line one is scored)."""
    k = len(sets[0][2]) + 1
    stop = ["\n"] if stop_at_newline else []
    out = []
    for pos, q in arrange(sets, positions, layout):
        rec, gold, distractors = q
        prompt = mdqa_prompt(rec["question"], with_gold_at(gold, distractors, pos))
        req = (Request(messages=[{"role": "user", "content": prompt}], max_new_tokens=max_new_tokens, stop=stop)
               if chat else Request(prompt=prompt, max_new_tokens=max_new_tokens, stop=stop))
        h = qhash(rec["question"])
        out.append(MDQAPrompt(id=f"{h}/k={k}/pos={pos}", cluster=f"{h}/k={k}", position=pos, question=q,
                              prompt=prompt, request=req))
    return out

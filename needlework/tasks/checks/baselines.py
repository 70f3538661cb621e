"""Invariants of the baseline datasets (niah, mdqa_train, released_qa), for `needlework validate`."""
from __future__ import annotations

from pathlib import Path

from ...text import contains_any_answer
from ..baselines import mdqa_train, niah, released_qa
from ..base import Invalid


def check_niah(prompt: str, answer: str, meta: dict) -> None:
    needle = meta.get("needle", answer)
    if prompt.count(needle) != 1:
        raise Invalid(f"the needle occurs {prompt.count(needle)} times in the prompt (must be exactly once)")
    if not prompt.startswith("<context>\n") or "\n</context>\n\n" not in prompt:
        raise Invalid("prompt does not follow the needle-in-a-haystack frame")
    if answer != needle:
        raise Invalid("the answer is not the needle sentence")


def check_mdqa_train(prompt: str, answer: str, meta: dict) -> None:
    if not prompt.startswith(mdqa_train.INSTRUCTION + "\n\n") or not prompt.endswith("\nAnswer:"):
        raise Invalid("prompt does not follow Liu et al.'s qa prompt")
    answers = meta.get("answers")
    if answers and not contains_any_answer(answer, answers):
        raise Invalid("the target sentence contains no gold answer")
    docs = [ln for ln in prompt.split("\n") if ln.startswith("Document [")]
    if answers:
        holders = [i for i, d in enumerate(docs, 1) if contains_any_answer(d.split(") ", 1)[-1], answers)]
        gold = meta.get("gold_document")
        if gold is not None and (gold not in holders or len(holders) != 1):
            raise Invalid(f"documents containing an answer: {holders}; expected only the gold one [{gold}]")


def check_released_qa(prompt: str, answer: str, meta: dict) -> None:
    """The row is the first turn of record `record` of its source file, when that file is at hand."""
    if not prompt.strip() or not answer.strip():
        raise Invalid("empty prompt or answer")
    source, record = meta.get("source_file"), meta.get("record")
    if source and record is not None and Path(source).is_file():
        pairs = released_qa.load_pairs(source, meta.get("source", "multidocqa"))
        if record >= len(pairs) or pairs[record] != (prompt, answer):
            raise Invalid(f"the row is not record {record} of {source}")


"""MDQA-style fine-tuning samples (the paper's §3.4 baseline, after Liu et al.'s multi-document QA).

The question's gold passage sits among k-1 distractor passages: gold passages of *other* questions that
contain none of this question's answers. Only the `train` half of the documented NQ split is used (see
needlework.real_data), so the MDQA benchmark never sees these questions or passages. The paper had GPT-3.5
rewrite the short answers into a full sentence; offline we take the gold passage's own sentence that
contains the answer (a real, grounded sentence) and fall back to a fixed template when none does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...config import ConfigError
from ...real_data import gold_passage, nq_split
from ...text import contains_any_answer, normalize_answer, sentence_spans
from ..base import Sample, TokenCount

NAME = "mdqa_train"
INSTRUCTION = ("Write a high-quality answer for the given question using only the provided search results "
               "(some of which might be irrelevant).")
FALLBACK_ANSWER = "The answer to the question is {answer}."


def format_document(i: int, title: str, text: str) -> str:
    return f"Document [{i}](Title: {title}) {text}"


def mdqa_prompt(question: str, documents: list[dict]) -> str:
    """Liu et al.'s qa.prompt, no trailing newline; documents are {title, text}, numbered from 1."""
    results = "\n".join(format_document(i, d["title"], d["text"]) for i, d in enumerate(documents, 1))
    return f"{INSTRUCTION}\n\n{results}\n\nQuestion: {question}\nAnswer:"


@dataclass
class MDQATrainConfig:
    num_docs: int = field(default=20, metadata={"help": "Documents per training prompt."})
    gold_position: str | int | list[int] = field(default="uniform", metadata={
        "help": "Where the gold document sits: 'uniform', a 1-based index, or a list swept by sample index."})
    data_file: str | None = field(default=None, metadata={
        "help": "NQ-Open oracle file (nq-open-oracle.jsonl.gz); null: the packaged copy."})
    max_tokens: int | None = field(default=None, metadata={
        "help": "Draws whose prompt exceeds this many tokens are rejected (null: no limit)."})

    def validate(self) -> None:
        if self.num_docs < 1:
            raise ConfigError(f"num_docs must be >= 1, got {self.num_docs}")
        positions = self.gold_position if isinstance(self.gold_position, list) else [self.gold_position]
        for p in positions:
            if isinstance(p, str) and p != "uniform":
                raise ConfigError(f"gold_position must be 'uniform', an index or a list, got {p!r}")
            if isinstance(p, int) and not 1 <= p <= self.num_docs:
                raise ConfigError(f"gold_position {p} is outside documents 1..{self.num_docs}")
        if len(nq_split("train", self.data_file)) < self.num_docs:
            raise ConfigError(f"num_docs={self.num_docs} exceeds the questions in the NQ train split")


def answer_sentence(passage: str, answers: list[str]) -> str:
    """The passage's first sentence containing a gold answer, else the fallback template."""
    for start, end in sentence_spans(passage):
        sent = passage[start:end].strip()
        if contains_any_answer(sent, answers) and len(sent) <= 400:
            return sent
    return FALLBACK_ANSWER.format(answer=answers[0])


def generate(cfg: MDQATrainConfig, rng: np.random.Generator, count_tokens: TokenCount | None = None) -> Sample:
    from ..base import BudgetExceeded
    pool = nq_split("train", cfg.data_file)
    rec = pool[int(rng.integers(len(pool)))]
    answers = rec["answers"]
    gold = gold_passage(rec)
    # Distractors: other questions' gold passages without any of our answers (normalised substring test).
    order = rng.permutation(len(pool)).tolist()
    distractors = []
    for j in order:   # bounded by the pool size
        if len(distractors) == cfg.num_docs - 1:
            break
        other = pool[j]
        if other["question"] == rec["question"]:
            continue
        p = gold_passage(other)
        if not contains_any_answer(p["title"] + " " + p["text"], answers):
            distractors.append(p)
    if len(distractors) < cfg.num_docs - 1:
        raise ConfigError(f"only {len(distractors)} distractors avoid the answers of {rec['question']!r}")
    pos = cfg.gold_position if isinstance(cfg.gold_position, int) else 1 + int(rng.integers(cfg.num_docs))
    docs = distractors[: pos - 1] + [gold] + distractors[pos - 1:]
    prompt = mdqa_prompt(rec["question"], docs)
    tokens = count_tokens(prompt) if count_tokens else None
    if cfg.max_tokens is not None and tokens is not None and tokens > cfg.max_tokens:
        raise BudgetExceeded(f"{tokens} tokens > max_tokens={cfg.max_tokens}")
    return Sample(task=NAME, prompt=prompt, answer=answer_sentence(gold["text"], answers),
                  meta={"question": rec["question"], "answers": answers, "gold_document": pos,
                        "num_docs": cfg.num_docs, "depth": round((pos - 1) / max(cfg.num_docs - 1, 1), 6),
                        "n_tokens": tokens, "normalized_answers": [normalize_answer(a) for a in answers]})

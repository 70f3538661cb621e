"""`mdqa`: multi-document QA (Liu et al., "Lost in the Middle"), the paper's §3.2.1 setting.

Default data: questions of the NQ `eval` split (needlework.real_data; MDQA training data uses only `train`;
`split: dev` asks the questions a recipe may be chosen on), each with k-1 distractors that are gold passages of
*other* questions of that split containing none of this question's answers (tasks.baselines.mdqa_sets: the paper's
"irrelevant distractors"), kept in the same order at every gold position, so positions are compared on paired
prompts. `layout: rotate` asks each question once instead, question i with its gold document at
positions[i % len(positions)]: the same number of prompts carries len(positions) times as many questions, and no
question is counted at several positions (their answers are correlated: the cpu-demo's design effect was 1.26),
so the overall change is measured more precisely per prompt; per-position accuracies then compare different
questions. With `documents_file` (Liu et al.'s 10/20/30-document files)
their retrieved distractors are used as given, and the gold passage is moved to each position as they do.
Prompt and scoring: REFERENCE.md §3, byte for byte (no trailing newline; best-subspan EM on line one).
Companion measures (`contrast`, evals/companion.py): the same question asked over the k-1 distractors alone, in
the same order (one prompt per question, whatever the gold position), and each distractor passage's own
question's first answer as the wrong answer sitting in the context (synthetic sets only: the retrieved
distractors of a documents file answer no question of their own, so those items get the context gain alone).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from ..config import ConfigError
from ..tasks.baselines.mdqa_prompts import build_prompts, questions_needed
from ..tasks.baselines.mdqa_sets import Question, document, pick_questions, question_sets
from ..tasks.baselines.mdqa_train import mdqa_prompt as render_prompt   # one prompt for training data and the benchmark
from .metrics import best_subspan_em, first_line
from .base import Benchmark, Contrast, Item, ReportHook

@dataclass
class MDQAConfig:
    k: int = field(default=20, metadata={"help": "Documents per prompt (with documents_file: the file's)."})
    positions: list[int] = field(default_factory=lambda: [1, 2, 5, 10, 15, 20], metadata={
        "help": "1-based gold positions."})
    n: int = field(default=200, metadata={"help": "Prompts per position (layout every: the same questions at each)."})
    layout: Literal["every", "rotate"] = field(default="every", metadata={
        "help": "every: each question at every position (positions compared on paired prompts; Liu et al.) | "
                "rotate: each question once, at positions[i % len]."})
    nq_file: str | None = field(default=None, metadata={
        "help": "NQ-Open oracle file (nq-open-oracle.jsonl.gz); null: the packaged copy."})
    documents_file: str | None = field(default=None, metadata={
        "help": "Liu et al.'s k-document file, used as given; null: built from nq_file."})
    split: Literal["eval", "dev", "all"] = field(default="eval", metadata={
        "help": "NQ split of the questions (real_data): eval | dev (to choose a recipe without touching eval) | "
                "all (documents_file only)."})
    chat: bool = field(default=True, metadata={"help": "Prompt as a user message (Liu et al. used chat formats)."})
    max_new_tokens: int = field(default=100, metadata={"help": "Tokens generated per answer."})
    stop_at_newline: bool = field(default=True, metadata={
        "help": "Only line one is scored, so stopping there changes no score."})

    def validate(self) -> None:
        if self.k < 2 and not self.documents_file:
            raise ConfigError(f"mdqa.k must be >= 2, got {self.k}")
        if self.n < 1:
            raise ConfigError(f"mdqa.n must be >= 1, got {self.n}")
        if self.split == "all" and not self.documents_file:
            raise ConfigError("mdqa.split=all needs a documents_file (the packaged questions are eval or dev)")
        if not self.positions or any(p < 1 for p in self.positions):
            raise ConfigError(f"mdqa.positions must be 1-based document positions, got {self.positions}")


def _questions(s: MDQAConfig) -> int:
    return questions_needed(s.n, s.positions, s.layout)


def _synthetic_sets(s: MDQAConfig, seed: int) -> list[Question]:
    return question_sets("dev" if s.split == "dev" else "eval", _questions(s), s.k, seed, s.nq_file)


def _file_sets(s: MDQAConfig, seed: int) -> list[Question]:
    from ..real_data import load_nq, nq_split_of
    records = list(load_nq(s.documents_file))
    if s.split != "all":
        records = [r for r in records if nq_split_of(r["question"]) == s.split]
    out = []
    for r in pick_questions(records, _questions(s), seed):
        gold = [c for c in r["ctxs"] if c.get("isgold")]
        if len(gold) != 1:
            raise ConfigError(f"{s.documents_file}: question {r['question']!r} has {len(gold)} contexts marked "
                              "isgold; Liu et al.'s files have exactly one")
        out.append((r, document(gold[0]), [document(c) for c in r["ctxs"] if not c.get("isgold")]))
    if len(out) < _questions(s):
        raise ConfigError(f"mdqa.n={s.n} (layout={s.layout}: {_questions(s)} questions) but {s.documents_file} "
                          f"has only {len(out)} usable questions (split={s.split})")
    return out


def build(s: MDQAConfig, seed: int) -> list[Item]:
    s.validate()
    sets = _file_sets(s, seed) if s.documents_file else _synthetic_sets(s, seed)
    k = len(sets[0][2]) + 1
    if any(len(d) + 1 != k for _, _, d in sets):
        raise ConfigError("mdqa: the documents file mixes records with different numbers of contexts")
    bad = [p for p in s.positions if p > k]
    if bad:
        raise ConfigError(f"mdqa.positions {bad} lie beyond the {k} documents per prompt")
    items = []
    for p in build_prompts(sets, s.positions, s.layout, s.max_new_tokens, s.chat, s.stop_at_newline):
        rec, _, distractors = p.question
        wrong = [d["answers"][0] for d in distractors if d.get("answers")]
        gold_data = {"answers": list(rec["answers"]), "question": rec["question"],
                     # the companion measures' prompt without the gold passage, and the distractors' own answers
                     "without_gold": render_prompt(rec["question"], distractors),
                     "distractor_answers": wrong if len(wrong) == len(distractors) else []}
        items.append(Item(id=p.id, axes={"position": p.position}, request=p.request, gold=gold_data,
                          cluster=p.cluster))   # every: one question at each position
    return items


def score(item: Item, text: str) -> tuple[str, dict[str, float]]:
    return first_line(text), {"best_subspan_em": best_subspan_em(text, item.gold["answers"])}


def contrast(s: MDQAConfig, item: Item) -> Contrast:
    """The item's prompt, the same prompt over the distractors alone, and the answers as continuations: after a
    chat template's assistant turn as they are, after a plain prompt's "Answer:" with a space, as generated."""
    req, lead = item.request, "" if item.request.messages is not None else " "
    without = (dataclasses.replace(req, messages=[{"role": "user", "content": item.gold["without_gold"]}])
               if req.messages is not None else dataclasses.replace(req, prompt=item.gold["without_gold"]))
    return Contrast(with_gold=req, without_gold=without, answer=lead + item.gold["answers"][0],
                    distractor_answers=tuple(lead + a for a in item.gold["distractor_answers"]))


def describe(s: MDQAConfig) -> dict:
    if s.documents_file:
        src = f"Liu et al. documents file {s.documents_file} (retrieved distractors, as given; split={s.split})"
    else:
        src = (f"synthetic: NQ-Open oracle {s.split} split, {s.k} documents, distractors = other {s.split} "
               "questions' gold passages containing none of the answers")
    layout = ("every question at each gold position" if s.layout == "every" else
              f"each question once, its gold position rotating over {s.positions} ({_questions(s)} questions)")
    return {"data_source": src, "layout": layout,
            "metric": "best-subspan exact match on the first output line (Liu et al.)"}


BENCHMARK = Benchmark(name="mdqa", section="mdqa", settings=MDQAConfig, report=ReportHook("MDQA", claim="transfer"),
                      build=build, score=score, metrics=lambda s: ("best_subspan_em",), axes=("position",),
                      describe=describe, help="multi-document QA, gold document position swept (claim 2)",
                      contrast=contrast)

"""The multi-passage layout shared by `squad-passages` and `sciq-passages`: a real question's own paragraph
among k-1 paragraphs of *other* questions of the same split that contain none of its answers (normalised
substring test, as mdqa's "irrelevant distractors"), so each distractor carries a wrong answer of its own (the
companion measures' preference reads it). Each question is asked once, its gold paragraph at
positions[i % len(positions)] (mdqa's `layout: rotate`). The prompt is this suite's own (numbered passages
with a title line), unlike both the training dictionaries and Liu et al.'s "Document [i](Title: ...)" lines.

Questions are picked in a seeded order independent of file order (sorted by id hash, then permuted by the
seed), and each question's distractors are drawn from its own generator (seed, question id), so item i
depends only on (seed, i) and the data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar, Literal

import numpy as np

from ...backends.base import Request
from ...config import ConfigError
from ...text import normalize_answer
from ..base import Benchmark, Contrast, Item, ReportHook
from .readers import answer_line, short_answer_em
from .split import check_split, split_of, stable_id

INSTRUCTION = ("Read the passages below, then answer the question with a short phrase copied from the passage "
               "that answers it.")
METRIC = "answer_em"


@dataclass
class PassageConfig:
    SECTION: ClassVar[str] = "passages"            # the EvalConfig section a subclass is (messages name it)
    k: int = field(default=5, metadata={"help": "Passages per prompt."})
    positions: list[int] = field(default_factory=lambda: [1, 3, 5], metadata={
        "help": "Gold positions, rotated over questions."})
    n: int | None = field(default=100, metadata={
        "help": "Questions (one prompt each); null: every question of the split."})
    split: Literal["eval", "dev"] = field(default="eval", metadata={
        "help": "Half of the data by paragraph hash (suite.split): eval | dev."})
    data: str | None = field(default=None, metadata={
        "help": "The task's extracted data folder; null: the verified cache."})
    chat: bool = field(default=True, metadata={"help": "Send the prompt as a user message."})
    max_new_tokens: int = field(default=32, metadata={"help": "Tokens generated per answer."})

    def validate(self) -> None:
        where = self.SECTION
        check_split(self.split, where)
        if self.k < 2:
            raise ConfigError(f"{where}.k must be >= 2, got {self.k}")
        if self.n is not None and self.n < 1:
            raise ConfigError(f"{where}.n must be >= 1 or null (every question), got {self.n}")
        if not self.positions or any(not 1 <= p <= self.k for p in self.positions):
            raise ConfigError(f"{where}.positions must be 1-based passage positions within k={self.k}, "
                              f"got {self.positions}")


def render_prompt(question: str, passages: list[dict]) -> str:
    blocks = []
    for i, p in enumerate(passages, 1):
        head = f"Passage {i}" + (f" ({p['title']})" if p.get("title") else "")
        blocks.append(f"{head}\n{p['text']}")
    return f"{INSTRUCTION}\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}\nAnswer:"


def _request(s: PassageConfig, prompt: str) -> Request:
    # no stop sequence: "The answer is:", a blank line and the answer is an answer (max_new_tokens bounds it)
    if s.chat:
        return Request(messages=[{"role": "user", "content": prompt}], max_new_tokens=s.max_new_tokens)
    return Request(prompt=prompt, max_new_tokens=s.max_new_tokens)


def _pool(records: tuple[dict, ...]) -> list[dict]:
    """One entry per distinct paragraph: its text, title and the answer of its first question (by id)."""
    by_text: dict[str, dict] = {}
    for r in sorted(records, key=lambda r: r["id"]):
        by_text.setdefault(r["text"], {"title": r["title"], "text": r["text"], "answer": r["answers"][0]})
    return [by_text[t] for t in sorted(by_text, key=stable_id)]


def _distractors(rec: dict, pool: list[dict], norms: list[str], k: int, seed: int, family: str) -> list[dict]:
    answers = [a for a in (normalize_answer(x) for x in rec["answers"]) if a]
    rng = np.random.default_rng([seed, int(stable_id(rec["id"]), 16), k])
    out = []
    for i in rng.permutation(len(pool)):
        p = pool[i]
        if p["text"] == rec["text"] or any(a in norms[i] for a in answers):
            continue
        out.append(p)
        if len(out) == k - 1:
            return out
    raise ConfigError(f"{family}: only {len(out)} paragraphs avoid the answers of question {rec['id']}; "
                      f"need {k - 1}: lower k")


def build_items(s: PassageConfig, seed: int, family: str, records: tuple[dict, ...]) -> list[Item]:
    """family: the benchmark's name (ids, split salt, messages); records: its QA rows (passage_data)."""
    s.validate()
    mine = [r for r in records if split_of(r["text"], family) == s.split]
    n = len(mine) if s.n is None else s.n
    if n > len(mine):
        raise ConfigError(f"{family}.n={s.n} but its {s.split} split has only {len(mine)} questions")
    pool = _pool(tuple(mine))
    norms = [normalize_answer(p["title"] + " " + p["text"]) for p in pool]
    ordered = sorted(mine, key=lambda r: stable_id(r["id"]))
    picked = [ordered[i] for i in np.random.default_rng([seed, 7]).permutation(len(ordered))[:n]]
    items = []
    for i, rec in enumerate(picked):
        pos = s.positions[i % len(s.positions)]
        distractors = _distractors(rec, pool, norms, s.k, seed, family)
        gold = {"title": rec["title"], "text": rec["text"]}
        passages = [{"title": d["title"], "text": d["text"]} for d in distractors]
        passages.insert(pos - 1, gold)
        items.append(Item(id=f"{rec['id']}/k={s.k}/pos={pos}", axes={"position": pos},
                          request=_request(s, render_prompt(rec["question"], passages)),
                          gold={"answers": list(rec["answers"]), "question": rec["question"], "source": rec["id"],
                                "passages": passages, "gold_position": pos,
                                "distractor_answers": [d["answer"] for d in distractors]},
                          cluster=f"{family}/{stable_id(rec['text'])}"))   # questions on one paragraph correlate
    return items


def score(item: Item, text: str) -> tuple[str, dict[str, float]]:
    return answer_line(text), {METRIC: short_answer_em(text, item.gold["answers"])}


def contrast(s: PassageConfig, item: Item) -> Contrast:
    """The item's prompt, the same prompt without its gold passage, the first gold answer and each
    distractor passage's own answer."""
    g = item.gold
    rest = [p for i, p in enumerate(g["passages"], 1) if i != g["gold_position"]]
    return Contrast.from_gold(item, _request(s, render_prompt(g["question"], rest)))


def describe_layout(s: PassageConfig) -> str:
    return (f"{s.k} passages per prompt: the question's own paragraph at positions {s.positions} (rotating over "
            f"questions) among other {s.split}-split questions' paragraphs that contain none of its answers")


Loader = Callable[[str], tuple[dict, ...]]


def benchmark(name: str, settings: type[PassageConfig], label: str, load: Loader, *,
              source: str, licence: str, split_by: str, metric: str, help: str) -> Benchmark:
    """The registry record of a passage benchmark: its name, settings, data (`load(data folder setting)`) and
    what its report says of them; layout, prompt, reader and contrast are this module's."""
    def build(s: PassageConfig, seed: int) -> list[Item]:
        s.validate()
        return build_items(s, seed, name, load(s.data))

    def describe(s: PassageConfig) -> dict:
        return {"data_source": source, "licence": licence,
                "split": f"{s.split}: by SHA-256 of {split_by} (needlework.evals.suite.split)",
                "layout": describe_layout(s), "metric": metric}

    return Benchmark(name=name, section=settings.SECTION, settings=settings, report=ReportHook(label, claim="transfer"),
                     build=build, score=score, metrics=lambda s: (METRIC,), axes=("position",), describe=describe,
                     contrast=contrast, help=help)

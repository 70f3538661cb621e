"""`mdqa`: multi-document QA (Liu et al., "Lost in the Middle"), the paper's §3.2.1 setting.

Default data: questions of the NQ `eval` split (needlework.real_data; MDQA training data uses only `train`),
each with k-1 distractors that are gold passages of *other* eval-split questions containing none of this
question's answers (normalised substring check on title and text) -- the paper's "irrelevant distractors".
Distractors are drawn once per (seed, question, k) and kept in the same order at every gold position, so
positions are compared on paired prompts. With `documents_file` (Liu et al.'s 10/20/30-document files)
their retrieved distractors are used as given, and the gold passage is moved to each position as they do.
Prompt and scoring: REFERENCE.md §3, byte for byte (no trailing newline; best-subspan EM on line one).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..backends.base import Request
from ..config import ConfigError
from ..tasks.mdqa_train import mdqa_prompt as render_prompt   # one prompt for training data and the benchmark
from .metrics import best_subspan_em, first_line, normalize_squad
from .base import Benchmark, Item



@dataclass
class MDQASettings:
    k: int = 20                                    # documents per prompt (ignored with documents_file: theirs)
    positions: list[int] = field(default_factory=lambda: [1, 2, 5, 10, 15, 20])   # 1-based gold positions
    n: int = 200                                   # questions per position (the same questions at every position)
    nq_file: str | None = None                     # nq-open-oracle.jsonl.gz; default: the packaged copy
    documents_file: str | None = None              # Liu et al.'s k-document file, used as given
    split: Literal["eval", "all"] = "eval"         # restrict documents_file questions to the NQ eval split
    chat: bool = True                              # prompt as a user message (Liu et al. used chat formats)
    max_new_tokens: int = 100
    stop_at_newline: bool = True                   # only line one is scored, so stopping there changes no score

    def validate(self) -> None:
        if self.k < 2 and not self.documents_file:
            raise ConfigError(f"mdqa.k must be >= 2, got {self.k}")
        if self.n < 1:
            raise ConfigError(f"mdqa.n must be >= 1, got {self.n}")
        if not self.positions or any(p < 1 for p in self.positions):
            raise ConfigError(f"mdqa.positions must be 1-based document positions, got {self.positions}")


def _qhash(question: str) -> str:
    return hashlib.sha256(question.encode("utf-8")).hexdigest()[:12]


def _rng(seed: int, question: str, k: int) -> np.random.Generator:
    return np.random.default_rng([seed, int(_qhash(question), 16), k])


def _pick_questions(records: list[dict], n: int, seed: int) -> list[dict]:
    """n records in a seeded order that does not depend on file order (sorted by question hash first)."""
    recs = sorted(records, key=lambda r: _qhash(r["question"]))
    order = np.random.default_rng([seed, 7]).permutation(len(recs))
    return [recs[i] for i in order[:n]]


def _doc(c: dict) -> dict:
    return {"title": c.get("title", ""), "text": c.get("text", "")}


def _distractors(rec: dict, gold: dict, pool: list[dict], pool_norm: list[str], k: int, seed: int) -> list[dict]:
    answers = [a for a in (normalize_squad(x) for x in rec["answers"]) if a]
    rng = _rng(seed, rec["question"], k)
    out, seen = [], {gold["text"]}   # never the gold passage twice (two questions may share one passage)
    for i in rng.permutation(len(pool)):
        d = pool[i]
        if d["question"] == rec["question"] or d["text"] in seen or any(a in pool_norm[i] for a in answers):
            continue
        seen.add(d["text"])
        out.append(_doc(d))
        if len(out) == k - 1:
            return out
    raise ConfigError(f"mdqa: only {len(out)} distractor passages avoid the answers of {rec['question']!r}; "
                      f"need {k - 1}: lower mdqa.k")


def _synthetic_sets(s: MDQASettings, seed: int) -> list[tuple[dict, dict, list[dict]]]:
    from ..real_data import gold_passage, nq_split
    records = nq_split("eval", s.nq_file)
    if len(records) < s.n:
        raise ConfigError(f"mdqa.n={s.n} but the NQ eval split has only {len(records)} questions")
    pool = [{"question": r["question"], **_doc(gold_passage(r))} for r in records]
    pool_norm = [normalize_squad(d["title"] + " " + d["text"]) for d in pool]
    out = []
    for r in _pick_questions(records, s.n, seed):
        gold = _doc(gold_passage(r))
        out.append((r, gold, _distractors(r, gold, pool, pool_norm, s.k, seed)))
    return out


def _file_sets(s: MDQASettings, seed: int) -> list[tuple[dict, dict, list[dict]]]:
    from ..real_data import load_nq, nq_split_of
    records = list(load_nq(s.documents_file))
    if s.split == "eval":
        records = [r for r in records if nq_split_of(r["question"]) == "eval"]
    out = []
    for r in _pick_questions(records, s.n, seed):
        gold = [c for c in r["ctxs"] if c.get("isgold")]
        if len(gold) != 1:
            raise ConfigError(f"{s.documents_file}: question {r['question']!r} has {len(gold)} contexts marked "
                              "isgold; Liu et al.'s files have exactly one")
        out.append((r, _doc(gold[0]), [_doc(c) for c in r["ctxs"] if not c.get("isgold")]))
    if len(out) < s.n:
        raise ConfigError(f"mdqa.n={s.n} but {s.documents_file} has only {len(out)} usable questions "
                          f"(split={s.split})")
    return out


def build(s: MDQASettings, seed: int) -> list[Item]:
    s.validate()
    sets = _file_sets(s, seed) if s.documents_file else _synthetic_sets(s, seed)
    k = len(sets[0][2]) + 1
    if any(len(d) + 1 != k for _, _, d in sets):
        raise ConfigError("mdqa: the documents file mixes records with different numbers of contexts")
    bad = [p for p in s.positions if p > k]
    if bad:
        raise ConfigError(f"mdqa.positions {bad} lie beyond the {k} documents per prompt")
    stop = ["\n"] if s.stop_at_newline else []
    items = []
    for pos in s.positions:
        for rec, gold, distractors in sets:
            docs = distractors[:pos - 1] + [gold] + distractors[pos - 1:]
            prompt = render_prompt(rec["question"], docs)
            req = (Request(messages=[{"role": "user", "content": prompt}], max_new_tokens=s.max_new_tokens, stop=stop)
                   if s.chat else Request(prompt=prompt, max_new_tokens=s.max_new_tokens, stop=stop))
            items.append(Item(id=f"{_qhash(rec['question'])}/k={k}/pos={pos}", axes={"position": pos},
                              request=req, gold={"answers": list(rec["answers"]), "question": rec["question"]}))
    return items


def score(item: Item, text: str) -> tuple[str, dict[str, float]]:
    return first_line(text), {"best_subspan_em": best_subspan_em(text, item.gold["answers"])}


def describe(s: MDQASettings) -> dict:
    if s.documents_file:
        src = f"Liu et al. documents file {s.documents_file} (retrieved distractors, as given; split={s.split})"
    else:
        src = (f"synthetic: NQ-Open oracle eval split, {s.k} documents, distractors = other eval questions' "
               "gold passages containing none of the answers")
    return {"data_source": src, "metric": "best-subspan exact match on the first output line (Liu et al.)"}


BENCHMARK = Benchmark(name="mdqa", section="mdqa", build=build, score=score,
                      metrics=lambda s: ("best_subspan_em",), axes=("position",), describe=describe)

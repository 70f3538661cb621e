"""The MDQA question sets, shared by the benchmark (evals.mdqa) and the training-time transfer probe
(train.mdqa_probe): n questions of one NQ split, each with k-1 distractors that are gold passages of
*other* questions of the same split containing none of its answers (normalised substring check on title and
text: the paper's "irrelevant distractors").

Questions are picked in a seeded order that does not depend on file order, and each question's distractors are
drawn once per (seed, question, k) and kept in the same order at every gold position, so positions are compared
on paired prompts. Which split a question belongs to is needlework.real_data's documented hash split.
A distractor carries its own question's `answers` beside its title and text (the prompt renders only those two):
the companion measures ask whether a model prefers the gold answer to a distractor passage's own answer.
"""
from __future__ import annotations

import hashlib

import numpy as np

from ...config import ConfigError
from ...text import normalize_answer

Question = tuple[dict, dict, list[dict]]   # (NQ record, gold document, distractor documents)


def qhash(question: str) -> str:
    return hashlib.sha256(question.encode("utf-8")).hexdigest()[:12]


def _rng(seed: int, question: str, k: int) -> np.random.Generator:
    return np.random.default_rng([seed, int(qhash(question), 16), k])


def pick_questions(records: list[dict], n: int, seed: int) -> list[dict]:
    """n records in a seeded order that does not depend on file order (sorted by question hash first)."""
    recs = sorted(records, key=lambda r: qhash(r["question"]))
    order = np.random.default_rng([seed, 7]).permutation(len(recs))
    return [recs[i] for i in order[:n]]


def document(c: dict) -> dict:
    return {"title": c.get("title", ""), "text": c.get("text", "")}


def _distractors(rec: dict, gold: dict, pool: list[dict], pool_norm: list[str], k: int, seed: int) -> list[dict]:
    answers = [a for a in (normalize_answer(x) for x in rec["answers"]) if a]
    rng = _rng(seed, rec["question"], k)
    out, seen = [], {gold["text"]}   # never the gold passage twice (two questions may share one passage)
    for i in rng.permutation(len(pool)):
        d = pool[i]
        if d["question"] == rec["question"] or d["text"] in seen or any(a in pool_norm[i] for a in answers):
            continue
        seen.add(d["text"])
        out.append({**document(d), "answers": list(d["answers"])})
        if len(out) == k - 1:
            return out
    raise ConfigError(f"mdqa: only {len(out)} distractor passages avoid the answers of {rec['question']!r}; "
                      f"need {k - 1}: lower mdqa.k")


def question_sets(split: str, n: int, k: int, seed: int, nq_file: str | None = None) -> list[Question]:
    """n questions of NQ `split` (eval, dev or train) with k-1 distractors each, from that split only."""
    from ...real_data import gold_passage, nq_split
    records = nq_split(split, nq_file)
    if len(records) < n:
        raise ConfigError(f"mdqa: {n} questions asked but the NQ {split} split has only {len(records)}")
    pool = [{"question": r["question"], "answers": r["answers"], **document(gold_passage(r))} for r in records]
    pool_norm = [normalize_answer(d["title"] + " " + d["text"]) for d in pool]
    out = []
    for r in pick_questions(records, n, seed):
        gold = document(gold_passage(r))
        out.append((r, gold, _distractors(r, gold, pool, pool_norm, k, seed)))
    return out


def with_gold_at(gold: dict, distractors: list[dict], position: int) -> list[dict]:
    """The documents in prompt order with the gold one at 1-based `position`."""
    return distractors[:position - 1] + [gold] + distractors[position - 1:]

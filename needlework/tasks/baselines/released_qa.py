"""`released_qa`: the paper's two file-based baselines (§3.4) as needlework training rows.

Neither dataset is bundled; each arm reads the file its user gives (`path`), in the format its authors use:
  multidocqa -- Yu (2024), "paraphrasing the original text" (github.com/yuyijiong/train_with_paraphrasing,
                data: huggingface.co/datasets/yuyijiong/Long-Instruction-with-Paraphrasing). Their loader
                (`load_json_datasets`) takes .json/.jsonl records of either `{context, questions: [...],
                answers: [...]}` -- the first user turn is `context + "/n" + questions[0]`, their literal
                separator, kept as they trained -- or `{messages: [...]}` chat turns.
  in2        -- An et al. (2024), IN2 training (github.com/microsoft/FILM). The authors released the model and
                evaluation sets but no training data and no training-data schema; this reader takes chat
                rows `{messages: [...]}` (e.g. FILM's documented prompt "[INST] Below is a context and an
                instruction. ..." as the user turn), the one shape such a file can be given in without guessing.
needlework trains single-turn, so a record's first question and answer are used (later turns are dropped).

Token parity (the paper: "roughly the same number of training tokens" as the KV arm): records are taken in
a seeded order, skipping any longer than `max_tokens` (never truncated), until `total_tokens` is reached;
the dataset has as many samples as fit (`needlework generate` writes min(n, that many)).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ...config import ConfigError
from ...io import JSONLError, read_jsonl_numbered
from ..base import Sample, TokenCount

NAME = "released_qa"
FORMATS = ("multidocqa", "in2")
YU_SEPARATOR = "/n"   # train_with_paraphrasing.py joins context and first question with this literal


@dataclass
class ReleasedQAConfig:
    format: str = field(default="multidocqa", metadata={
        "help": "The file's record format: multidocqa (Yu 2024) | in2 (An et al. 2024)."})
    path: str | None = field(default=None, metadata={
        "help": "The dataset file (.json or .jsonl); null: the arm is skipped (needlework ships none)."})
    max_tokens: int | None = field(default=None, metadata={
        "help": "Records longer than this many tokens (prompt + answer) are skipped."})
    total_tokens: int | None = field(default=None, metadata={
        "help": "Token parity with another arm: take records until this many tokens are used (null: all)."})

    def validate(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if not self.path:
            raise ConfigError(f"path: give the {self.format} file (its authors' released format; see "
                              "needlework/tasks/baselines/released_qa.py)")
        if not Path(self.path).is_file():
            raise ConfigError(f"path: {self.path} does not exist")
        for name in ("max_tokens", "total_tokens"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ConfigError(f"{name} must be positive, got {v}")

    # -- the generator's per-index hooks (tasks.files.dataset.SampleMaker)
    def available(self, seed: int, count: TokenCount | None) -> int:
        return len(_selection(self.path, self.format, seed, self.max_tokens, self.total_tokens, count))

    def for_index(self, seed: int, index: int, count: TokenCount | None) -> "ReleasedQAConfig":
        chosen = _selection(self.path, self.format, seed, self.max_tokens, self.total_tokens, count)
        if index >= len(chosen):
            raise ConfigError(f"{self.format}: sample {index} asked, but only {len(chosen)} records fit "
                              f"max_tokens/total_tokens")
        out = replace(self)
        out.record = chosen[index]   # a plain attribute, not a setting: never in YAML or the config hash
        return out


def _first_turn(rec: Any, fmt: str, where: str) -> tuple[str, str]:
    if not isinstance(rec, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    if "messages" in rec:
        msgs = rec["messages"]
        if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
            raise ConfigError(f"{where}: messages must be a list of {{role, content}} objects")
        body = [m for m in msgs if m.get("role") != "system"]
        if len(body) < 2 or body[0].get("role") != "user" or body[1].get("role") != "assistant":
            raise ConfigError(f"{where}: messages must start with a user turn and an assistant turn")
        return str(body[0].get("content", "")), str(body[1].get("content", ""))
    if fmt == "multidocqa" and {"context", "questions", "answers"} <= set(rec):
        qs, ans = rec["questions"], rec["answers"]
        if not isinstance(qs, list) or not isinstance(ans, list) or not qs or len(qs) != len(ans):
            raise ConfigError(f"{where}: questions and answers must be lists of the same, non-zero length")
        return str(rec["context"]) + YU_SEPARATOR + str(qs[0]), str(ans[0])
    want = "{context, questions, answers} or {messages}" if fmt == "multidocqa" else "{messages}"
    raise ConfigError(f"{where}: not a {fmt} record (expected {want}; got keys {sorted(rec)})")


@lru_cache(maxsize=4)
def load_pairs(path: str, fmt: str) -> tuple[tuple[str, str], ...]:
    """(prompt, answer) of every record, in file order; a bad record fails naming file:line (or index)."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".json" and text.lstrip().startswith("["):
        try:
            recs = [(f"{p}[{i}]", r) for i, r in enumerate(json.loads(text))]
        except json.JSONDecodeError as e:
            raise ConfigError(f"{p}: not valid JSON ({e.msg})") from None
    else:
        try:
            recs = [(f"{p}:{i}", r) for i, r in read_jsonl_numbered(p)]
        except JSONLError as e:
            raise ConfigError(str(e)) from None
    out = tuple(_first_turn(r, fmt, where) for where, r in recs)
    if not out:
        raise ConfigError(f"{p}: no records")
    return out


def pair_tokens(prompt: str, answer: str, count: TokenCount | None) -> int:
    return count(prompt) + count(answer) if count else len(prompt.split()) + len(answer.split())


_SELECTIONS: dict[tuple, tuple[int, ...]] = {}   # keyed by settings + the counter's identity (not hashable)


def _selection(path: str, fmt: str, seed: int, max_tokens: int | None, total_tokens: int | None,
               count: TokenCount | None) -> tuple[int, ...]:
    key = (path, fmt, seed, max_tokens, total_tokens, id(count))
    if key not in _SELECTIONS:
        _SELECTIONS[key] = _select(path, fmt, seed, max_tokens, total_tokens, count)
    return _SELECTIONS[key]


def _select(path: str, fmt: str, seed: int, max_tokens: int | None, total_tokens: int | None,
            count: TokenCount | None) -> tuple[int, ...]:
    """Record indices in a seeded order: those within max_tokens, until total_tokens would be exceeded."""
    pairs = load_pairs(path, fmt)
    order = np.random.default_rng([seed, 0x1A2]).permutation(len(pairs)).tolist()
    chosen, used = [], 0
    for i in order:
        t = pair_tokens(*pairs[i], count)
        if max_tokens is not None and t > max_tokens:
            continue
        if total_tokens is not None and used + t > total_tokens:
            break
        chosen.append(i)
        used += t
    return tuple(chosen)


def generate(cfg: ReleasedQAConfig, rng: np.random.Generator, count_tokens: TokenCount | None = None) -> Sample:
    record = getattr(cfg, "record", None)
    if record is None:
        raise ConfigError("released_qa samples are chosen by index over the whole file; generate through "
                          "needlework.tasks.files.dataset.SampleMaker (needlework generate)")
    prompt, answer = load_pairs(cfg.path, cfg.format)[record]
    return Sample(task=NAME, prompt=prompt, answer=answer,
                  meta={"source": cfg.format, "source_file": str(cfg.path), "record": record,
                        "n_tokens": count_tokens(prompt) if count_tokens else None})

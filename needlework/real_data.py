"""Where the real data lives, and the one documented split of NQ-Open questions into train and eval.

Data is read from `$NEEDLEWORK_DATA`, else from the copy inside the package (`needlework/resources/`: the
NQ-Open oracle passages of Liu et al. and the Paul Graham essays, each with its MIT licence), so an
installed wheel and a bare clone work alike. Nothing is downloaded. The NQ split is by a hash of the question
text (not file order): a question whose SHA-256 starts with a value below 50% of the range belongs to `eval`,
from 50% to 62.5% to `dev`, the rest to `train`. MDQA training data (tasks.baselines.mdqa_train) draws only from
`train`; the MDQA benchmark (evals.mdqa) from `eval` (or, for choosing a recipe, `dev`), for both gold
questions and distractor passages, so no evaluation question or passage is ever trained on; the training-time
transfer probe (train.mdqa_probe) reads only `dev`, so a recipe chosen by it never saw `eval`. The
packaged essays are split the same way (essay_part): the NIAH baseline trains on one half, FLenQA pads with
the other.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from .config import ConfigError
from .io import JSONLError, read_jsonl_numbered

NQ_FILE = "lost-in-the-middle/nq-open-oracle.jsonl.gz"
ESSAYS_DIR = "paul-graham-essays"
EVAL_FRACTION = 0.5
DEV_FRACTION = 0.125           # of all questions: dev is [0.5, 0.625) of the hash range
NQ_SPLITS = ("train", "dev", "eval")


PACKAGE_DATA = Path(__file__).resolve().parent / "resources"   # shipped in the wheel as package data


def data_root() -> Path:
    """`$NEEDLEWORK_DATA` (same layout as the package copy) when set, else the package's own copy."""
    env = os.environ.get("NEEDLEWORK_DATA")
    return Path(env) if env else PACKAGE_DATA


def resolve(path: str | Path | None, default_rel: str) -> Path:
    p = Path(path) if path else data_root() / default_rel
    if not p.exists():
        raise ConfigError(f"data file {p} does not exist (set NEEDLEWORK_DATA or pass the path explicitly)")
    return p


def nq_split_of(question: str) -> str:
    h = int(hashlib.sha256(question.encode("utf-8")).hexdigest()[:8], 16) / 16**8
    return "eval" if h < EVAL_FRACTION else "dev" if h < EVAL_FRACTION + DEV_FRACTION else "train"


@lru_cache(maxsize=4)
def load_nq(path: str | None = None) -> tuple[dict, ...]:
    """Records {question, answers, ctxs: [{title, text, hasanswer, isgold}], ...}; checked as they load."""
    p = resolve(path, NQ_FILE)
    out = []
    try:
        for i, rec in read_jsonl_numbered(p):
            if not isinstance(rec.get("question"), str) or not isinstance(rec.get("answers"), list) \
                    or not isinstance(rec.get("ctxs"), list):
                raise ConfigError(f"{p}:{i}: expected {{question, answers: [...], ctxs: [...]}}")
            out.append(rec)
    except JSONLError as e:
        raise ConfigError(str(e)) from None
    except (OSError, EOFError) as e:
        raise ConfigError(f"cannot read {p}: {e}") from None
    return tuple(out)


def gold_passage(rec: dict) -> dict:
    """The record's gold context (isgold), else its first context that has the answer."""
    for c in rec["ctxs"]:
        if c.get("isgold"):
            return c
    for c in rec["ctxs"]:
        if c.get("hasanswer"):
            return c
    return rec["ctxs"][0]


@lru_cache(maxsize=8)
def nq_split(split: str, path: str | None = None) -> tuple[dict, ...]:
    if split not in NQ_SPLITS:
        raise ConfigError(f"NQ split must be one of {NQ_SPLITS}, got {split!r}")
    return tuple(r for r in load_nq(path) if nq_split_of(r["question"]) == split)


ESSAY_PARTS = ("haystack", "padding")


def essay_part(file_name: str) -> str:
    """Which half of the packaged essays a file belongs to, by a hash of its name: `haystack` (the NIAH
    baseline's training text) or `padding` (FLenQA's "books" padding), so no evaluation padding is ever
    trained on by the NIAH arm (that would favour it in the paper's Fig. 8 comparison)."""
    return "haystack" if hashlib.sha256(file_name.encode("utf-8")).digest()[0] < 128 else "padding"


@lru_cache(maxsize=4)
def load_essays(path: str | None = None, part: str | None = None) -> str:
    """Paul Graham essays concatenated in file-name order. With the default folder and a `part`, only that
    half (essay_part); a folder the user names is used whole, as given."""
    if part is not None and part not in ESSAY_PARTS:
        raise ConfigError(f"essay part must be one of {ESSAY_PARTS}, got {part!r}")
    d = resolve(path, ESSAYS_DIR)
    files = sorted(f for f in d.glob("*.txt") if path or part is None or essay_part(f.name) == part)
    if not files:
        raise ConfigError(f"no .txt essays in {d}" + (f" ({part} half)" if part and not path else ""))
    return "\n\n".join(f.read_text(encoding="utf-8").strip() for f in files)

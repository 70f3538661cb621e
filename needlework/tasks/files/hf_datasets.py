"""`needlework generate --format datasets`: the samples as a Hugging Face `datasets` folder (`save_to_disk`;
`datasets.load_from_disk(folder)` reads it back), in TRL's prompt/completion form, which `SFTTrainer` trains on
with `completion_only_loss=True` (loss on the completion only: needlework's answer-only mask, token for token).

- `datasets`: conversational rows, `prompt` = [system,] user message, `completion` = the assistant message; TRL
  renders them through the model's chat template, as needlework's trainer does.
- `datasets_plain`: text rows for a model without a chat template, `prompt` = "[system\\n\\n]prompt" and
  `completion` = " " + the answer: the text needlework's trainer reads for such a model (train/masking.py), the
  prompt exactly as evaluation sends it.

Beside them, every sample's meta as columns of their own (task, gold position or depth, token count, ...), so a
sweep can be filtered or grouped without parsing. One split per mixture component, else one per length where
the samples have several (`num_dict_10`, ...), else `train`.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterable

from ...backends.base import PLAIN_ANSWER_SEPARATOR
from ...config import ConfigError
from ..base import Sample

DATASETS_FORMATS = ("datasets", "datasets_plain")
_RESERVED = ("prompt", "completion")


def record(sample: Sample, fmt: str, system: str | None) -> dict[str, Any]:
    if fmt == "datasets":
        prompt: Any = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": sample.prompt}]
        completion: Any = [{"role": "assistant", "content": sample.answer}]
    else:
        prompt = (system + "\n\n" if system else "") + sample.prompt   # as training and evaluation join them
        completion = PLAIN_ANSWER_SEPARATOR + sample.answer
    meta = {k: v for k, v in {"task": sample.task, **sample.meta}.items() if k not in _RESERVED}
    return {"prompt": prompt, "completion": completion, **meta}


def split_of(sample: Sample, length_field: str | None, lengths: set) -> str:
    if "component" in sample.meta:
        return _split_name(str(sample.meta["component"]))
    if length_field and len(lengths) > 1:
        return _split_name(f"{length_field}_{sample.meta.get(length_field)}")
    return "train"


def _split_name(name: str) -> str:
    """datasets split names are words joined by dots."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def write_datasets_folder(samples: Iterable[Sample], fmt: str, system: str | None, out: Path,
                          length_field: str | None) -> dict[str, int]:
    """Writes the DatasetDict to `out` (replaced whole, via a temporary folder beside it); returns rows per split."""
    from datasets import Dataset, DatasetDict

    samples = list(samples)
    lengths = {s.meta.get(length_field) for s in samples} if length_field else set()
    splits: dict[str, list[dict]] = {}
    for s in samples:
        splits.setdefault(split_of(s, length_field, lengths), []).append(record(s, fmt, system))
    try:
        data = DatasetDict({name: Dataset.from_list(rows) for name, rows in splits.items()})
    except (TypeError, ValueError) as e:   # e.g. a meta field of one type in some rows and another in others
        raise ConfigError(f"format={fmt}: the rows do not form one table per split ({e})") from None
    if out.exists() and not (out / "dataset_dict.json").exists():
        raise ConfigError(f"out: {out} exists and is no datasets folder; choose a new path")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    data.save_to_disk(str(tmp))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return {name: len(rows) for name, rows in splits.items()}

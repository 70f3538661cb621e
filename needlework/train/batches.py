"""Training files -> encoded samples -> left-padded batches.

Batches are padded on the LEFT so every sample's answer ends at the last position: the answer-only loss
then needs logits for the last K positions only (K = longest answer in the batch), which the model computes
through `logits_to_keep` without ever materialising the full [batch, length, vocab] logits. Position ids are
passed explicitly (counting from the first real token) so padding never shifts a sample's positions: a
padded batch gives the same loss as each sample alone.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..config import ConfigError
from ..io import JSONLError, read_jsonl_numbered
from ..tasks.files.formats import RowError, parse_row
from .masking import IGNORE, MaskingError, encode


def read_rows(paths: list[str]) -> list[dict]:
    """(system, prompt, answer, meta) rows of every file, in file order."""
    rows = []
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(f"training file {path} does not exist")
        for i, row in read_jsonl_numbered(path):   # real line numbers, blank lines included
            try:
                system, prompt, answer, meta = parse_row(row)
            except RowError as e:
                raise JSONLError(path, i, str(e)) from None
            rows.append({"system": system, "prompt": prompt, "answer": answer, "meta": meta, "where": f"{path}:{i}"})
    if not rows:   # an empty file trains nothing: a user error, not a traceback
        raise ConfigError(f"data: no training rows in {', '.join(paths)}")
    return rows


class EncodedDataset(torch.utils.data.Dataset):
    """Tokenised once up front: a too-long or unsplittable sample fails before any training step."""

    def __init__(self, rows: list[dict], tokenizer: Any, template: str = "auto", max_length: int | None = None):
        self.items = []
        for idx, r in enumerate(rows):
            enc = encode(tokenizer, r["prompt"], r["answer"], r["system"], template=template,
                         max_length=max_length, where=r.get("where", f"sample {idx}"))
            self.items.append({"input_ids": enc.input_ids, "labels": enc.labels, "index": idx})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]

    def num_tokens(self) -> int:
        return sum(len(x["input_ids"]) for x in self.items)


class LeftPadCollator:
    def __init__(self, pad_token_id: int):
        self.pad = pad_token_id

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        ids, labels, mask = [], [], []
        for f in features:
            gap = width - len(f["input_ids"])
            ids.append([self.pad] * gap + list(f["input_ids"]))
            labels.append([IGNORE] * gap + list(f["labels"]))
            mask.append([0] * gap + [1] * len(f["input_ids"]))
        attention = torch.tensor(mask)
        batch = {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": attention,
                 "position_ids": (attention.cumsum(-1) - 1).clamp(min=0)}
        if "index" in features[0]:
            batch["sample_index"] = torch.tensor([f["index"] for f in features])
        return batch


def pad_id(tokenizer: Any) -> int:
    for tid in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if tid is not None:
            return tid
    raise MaskingError("tokenizer has neither pad nor eos token")

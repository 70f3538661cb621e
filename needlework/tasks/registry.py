"""The one place where tasks are registered and looked up by name (base.py holds the types and never
imports a concrete task, so there is no import loop)."""
from __future__ import annotations

from ..config import ConfigError
from . import variable_tracking
from .baselines import mdqa_train, niah, released_qa
from .base import Task
from .kv import answers as kv_answers
from .kv import formatted_kv, multi_subkey_kv, simple_kv
from .checks.baselines import check_mdqa_train, check_niah, check_released_qa
from .checks.formatted_kv import check_formatted_kv
from .checks.kv import check_multi, check_simple
from .checks.variable_tracking import check_variable_tracking

_REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    if task.name in _REGISTRY:
        raise ValueError(f"task {task.name!r} registered twice")
    _REGISTRY[task.name] = task
    return task


def task_key(name: str) -> str:
    """The one spelling of a task's name: snake_case (`simple-kv` and `simple_kv` name one task). Every
    comparison of a task name (registered tasks and `mixture` alike) goes through here, as benchmark names go
    through evals.registry.benchmark_key."""
    return name.replace("-", "_")


def get_task(name: str) -> Task:
    name = task_key(name)
    if name not in _REGISTRY:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def all_tasks() -> dict[str, Task]:
    return dict(_REGISTRY)


register(Task(simple_kv.NAME, simple_kv.SimpleKVConfig, simple_kv.generate,
              "simple dictionary key-value retrieval (paper Alg. 2)", needs_budget=True,
              score=kv_answers.score, metrics=kv_answers.SIMPLE_METRICS, read=kv_answers.read, check=check_simple))
register(Task(multi_subkey_kv.NAME, multi_subkey_kv.MultiSubkeyKVConfig, multi_subkey_kv.generate,
              "multi-subkey dictionary key-value retrieval (paper Alg. 4)", needs_budget=True,
              score=kv_answers.score, metrics=kv_answers.MULTI_METRICS, read=kv_answers.read, check=check_multi))
register(Task(niah.NAME, niah.NIAHConfig, niah.generate,
              "needle-in-a-haystack in Paul Graham essays (baseline, paper §3.4)", needs_budget=True,
              check=check_niah))
register(Task(mdqa_train.NAME, mdqa_train.MDQATrainConfig, mdqa_train.generate,
              "multi-document QA training samples from the NQ train split (baseline, paper §3.4)",
              check=check_mdqa_train))
register(Task(released_qa.NAME, released_qa.ReleasedQAConfig, released_qa.generate,
              "MultidocQA (Yu 2024) or IN2 (An et al. 2024) records from a given file, cut to a token budget "
              "(baselines, paper §3.4)", check=check_released_qa))
register(Task(formatted_kv.NAME, formatted_kv.FormattedKVConfig, formatted_kv.generate,
              "dictionary retrieval with number/word/string/UUID keys and values, as Python dicts or JSON objects, "
              "several keys asked at once (n_queries) or several values per key (n_values)", needs_budget=True,
              score=formatted_kv.score, metrics=formatted_kv.METRICS, check=check_formatted_kv))
register(Task(variable_tracking.NAME, variable_tracking.VariableTrackingConfig, variable_tracking.generate,
              "variable tracking (RULER): chains of assignments among noise lines; the answer needs `hops` hops",
              needs_budget=True, score=variable_tracking.score, metrics=variable_tracking.METRICS,
              check=check_variable_tracking, length_field="num_lines"))

"""One spelling of a task's name, one mapping: tasks.registry.task_key (as evals.registry.benchmark_key
is for benchmarks), and no other module rewrites a name's dashes or underscores."""
from __future__ import annotations

import re
from pathlib import Path

from needlework.evals.registry import benchmark_key
from needlework.tasks.files.dataset import GenerateConfig
from needlework.tasks.registry import all_tasks, get_task, task_key

PACKAGE = Path(__file__).resolve().parents[2] / "needlework"
# provenance maps installed distributions' import names to pip names, not task or benchmark names
MAPPINGS = {"tasks/registry.py", "evals/registry.py", "provenance.py"}


def test_kebab_and_snake_name_one_task():
    for name, task in all_tasks().items():
        assert task_key(name) == name
        assert task_key(name.replace("_", "-")) == name
        assert get_task(name.replace("_", "-")) is task


def test_a_mixture_is_recognised_through_the_same_mapping():
    assert GenerateConfig(task="mixture").is_mixture
    assert not GenerateConfig(task="simple-kv").is_mixture


def test_task_and_benchmark_spellings_are_each_mapped_in_one_place():
    assert benchmark_key("kv_retrieval") == "kv-retrieval"
    rewrite = re.compile(r"""\.replace\(\s*["']([-_])["']\s*,\s*["']([-_])["']\s*\)""")
    found = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if rewrite.search(p.read_text()))
    assert set(found) <= MAPPINGS, f"a name spelled outside the registries: {sorted(set(found) - MAPPINGS)}"
    assert {"tasks/registry.py", "evals/registry.py"} <= set(found)

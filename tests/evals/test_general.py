"""`general` through lm-evaluation-harness, fully offline: a tiny local task YAML on the tiny model fixture."""
from __future__ import annotations

import json

import pytest

from needlework.config import ConfigError, load_config
from needlework.evals.general import GeneralSettings, evaluate_task
from needlework.evals.runner import EvalConfig, run_eval

pytest.importorskip("lm_eval")

DOCS = [{"question": "2 + 2 =", "choices": ["4", "5"], "label": 0},
        {"question": "The sky is", "choices": ["green", "blue"], "label": 1},
        {"question": "Water is", "choices": ["wet", "dry"], "label": 0}]


@pytest.fixture
def local_task(tmp_path):
    data = tmp_path / "tiny.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "tiny_mc.yaml").write_text(f"""task: needlework_tiny_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
""")
    return tasks


def test_general_offline_local_task(tmp_path, local_task, tiny_model_dir):
    cfg = load_config(EvalConfig, None, [f"out={tmp_path / 'run'}", f"model={tiny_model_dir}", "benchmarks=[general]",
                                         "general.tasks=[needlework_tiny_mc]", f"general.include_path={local_task}",
                                         "general.include_defaults=false",
                                         "general.model_args=dtype=float32"])
    run = run_eval(cfg)
    res = json.loads((run / "results.json").read_text())["benchmarks"]["general"]
    (b,) = res["buckets"]
    assert b["label"] == "task=needlework_tiny_mc" and b["n"] == 3
    m = b["metrics"]["score"]
    assert m["harness_metric"] == "acc,none" and m["accuracy"] in (0.0, 1 / 3, 2 / 3, 1.0)
    assert (run / "general" / "needlework_tiny_mc.json").exists()
    # Finished tasks are skipped on a re-run (no harness call): same numbers.
    run_eval(cfg)
    again = json.loads((run / "results.json").read_text())["benchmarks"]["general"]
    assert again["buckets"] == res["buckets"]


def test_general_unknown_task_is_named(tmp_path, local_task, tiny_model_dir):
    s = GeneralSettings(tasks=["no_such_task_xyz"], include_path=str(local_task), include_defaults=False)
    with pytest.raises(ConfigError, match="no task 'no_such_task_xyz'"):
        evaluate_task("no_such_task_xyz", s, str(tiny_model_dir), tmp_path / "c")

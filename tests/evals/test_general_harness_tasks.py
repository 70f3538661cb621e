"""The generated task YAMLs load in lm-eval offline (TaskManager + get_task_dict) on data laid out like the
real extraction, keep the harness's prompts, and give GSM8K its documented substitute exemplars."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from needlework.evals.general.harness_tasks import gsm8k_exemplars, harness_tasks_dir, write_task_yamls

pytest.importorskip("lm_eval")
pa = pytest.importorskip("pyarrow")


def _arrow(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows)
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
        w.write_table(table)


@pytest.fixture
def folders(tmp_path):
    """Tiny copies of the five tasks' files, in the layout evals.general.data extracts."""
    root = tmp_path / "data"
    subjects = [yaml.safe_load(f.read_text())["dataset_name"]
                for f in sorted((harness_tasks_dir() / "mmlu" / "default").glob("mmlu_*.yaml"))]
    mc = {"question": "2 + 2 =", "subject": "x", "choices": ["1", "2", "3", "4"], "answer": 3}
    for s in subjects:
        _arrow(root / "mmlu" / s / "test" / "data-00000-of-00001.arrow", [mc, mc])
        _arrow(root / "mmlu" / s / "dev" / "data-00000-of-00001.arrow", [mc])
    hs = {"ind": 0, "activity_label": "Cooking", "ctx_a": "A man cracks an egg.", "ctx_b": "he", "ctx": "",
          "endings": ["fries it.", "sings.", "flies.", "sleeps."], "source_id": "x", "split": "val",
          "split_type": "indomain", "label": "0"}
    _arrow(root / "hellaswag" / "validation" / "data-00000-of-00001.arrow", [hs] * 3)
    (root / "gsm8k").mkdir(parents=True)
    (root / "gsm8k" / "test.jsonl").write_text(
        "".join(json.dumps({"question": f"What is {i} + 1?", "answer": f"{i} + 1 = {i + 1}\n#### {i + 1}"}) + "\n"
                for i in range(4)))
    _arrow(root / "triviaqa" / "validation" / "data-00000-of-00001.arrow",
           [{"question": "Capital of France", "question_id": "q1", "answer": {"aliases": ["Paris"], "value": "Paris"}}])
    _arrow(root / "nq_open" / "validation" / "data-00000-of-00001.arrow",
           [{"question": "who wrote hamlet", "answer": ["Shakespeare"]}] * 2)
    return {n: root / n for n in ("mmlu", "hellaswag", "gsm8k", "triviaqa", "nq_open")}


def test_yamls_include_the_harness_and_override_only_the_data(folders, tmp_path):
    dest = write_task_yamls(folders, tmp_path / "tasks")
    nq = yaml.safe_load((dest / "nq_open.yaml").read_text())
    assert nq["include"] == str(harness_tasks_dir() / "nq_open" / "nq_open.yaml")
    assert set(nq) == {"include", "dataset_path", "dataset_name", "dataset_kwargs", "training_split",
                       "validation_split", "test_split", "fewshot_split"}
    assert nq["dataset_path"] == "arrow" and nq["validation_split"] == "validation" and nq["training_split"] is None
    assert len(list(dest.glob("mmlu_*.yaml"))) == 57 and (dest / "_mmlu.yaml").exists()


def test_generated_tasks_load_offline_with_the_harness_prompts(folders, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    from lm_eval.tasks import TaskManager, get_task_dict
    tm = TaskManager(include_path=str(write_task_yamls(folders, tmp_path / "tasks")), include_defaults=False)
    for name in ("mmlu", "hellaswag", "gsm8k", "triviaqa", "nq_open", "mmlu_generative"):
        assert name in tm.all_tasks
    d = get_task_dict(["hellaswag", "gsm8k", "triviaqa", "nq_open", "mmlu"], tm)
    assert [len(d[t].eval_docs) for t in ("hellaswag", "gsm8k", "triviaqa", "nq_open")] == [3, 4, 1, 2]
    mmlu = next(v for k, v in d.items() if "mmlu" in str(k))
    assert len(mmlu) == 4                                                  # the harness's four MMLU groups
    nq = d["nq_open"]
    assert nq.fewshot_context(nq.eval_docs[0], 0) == "Answer these questions:\n\nQ: who wrote hamlet?\nA:"
    gsm = d["gsm8k"]
    prompt = gsm.fewshot_context(gsm.eval_docs[0], 5)
    assert prompt.count("Question:") == 6 and prompt.endswith("Question: What is 0 + 1?\nAnswer:")
    assert "21 - 15 = 6.\n#### 6" in prompt                               # the substitute exemplars, gsm8k format


def test_gsm8k_exemplars_are_the_harness_cot_ones_in_gsm8k_format():
    ex = gsm8k_exemplars(harness_tasks_dir())
    cot = yaml.safe_load((harness_tasks_dir() / "gsm8k" / "gsm8k-cot.yaml").read_text())["fewshot_config"]["samples"]
    assert [e["question"] for e in ex] == [c["question"] for c in cot[:5]]
    assert ex[4]["answer"].endswith("5 + 4 = 9.\n#### 9") and "The answer is" not in ex[4]["answer"]


def test_runs_with_different_task_sets_keep_their_own_yamls(folders, tmp_path, monkeypatch):
    """Two runs at once (base and tuned, or two task sets) must not delete each other's task files."""
    from needlework.evals.general import benchmark as general, data as offline_data
    monkeypatch.setattr(offline_data, "ensure", lambda names, spec: {n: folders[n] for n in names})
    monkeypatch.setattr(offline_data, "data_dir", lambda spec: tmp_path / "cache")
    a, *_ = general._task_source(general.GeneralConfig(tasks=["hellaswag", "nq_open"]))
    b, *_ = general._task_source(general.GeneralConfig(tasks=["gsm8k"]))
    assert a != b and (Path(a) / "hellaswag.yaml").exists() and (Path(b) / "gsm8k.yaml").exists()
    assert not (Path(b) / "hellaswag.yaml").exists()

"""`general` through lm-evaluation-harness, fully offline: a tiny local task YAML on the tiny model fixture."""
from __future__ import annotations

import json

import pytest

from needlework.config import ConfigError, load_config
from needlework.evals.general.benchmark import GeneralConfig, plan, sample_rows
from needlework.evals.runner import EvalConfig, run_eval
from lm_eval_tasks import MC, write_task

pytest.importorskip("lm_eval")

DOCS = [{"question": "2 + 2 =", "choices": ["4", "5"], "label": 0},
        {"question": "The sky is", "choices": ["green", "blue"], "label": 1},
        {"question": "Water is", "choices": ["wet", "dry"], "label": 0}]


@pytest.fixture
def local_task(tmp_path):
    return write_task(tmp_path / "tasks", "needlework_tiny_mc", DOCS, **MC)


def test_general_offline_local_task(tmp_path, local_task, tiny_model_dir):
    cfg = load_config(EvalConfig, None, [f"out={tmp_path / 'run'}", f"model={tiny_model_dir}", "benchmarks=[general]",
                                         "general.tasks=[needlework_tiny_mc]", f"general.include_path={local_task}",
                                         "general.include_defaults=false",
                                         "general.model_args=dtype=float32"])
    run = run_eval(cfg)
    res = json.loads((run / "results.json").read_text())["benchmarks"]["general"]
    (b,) = res["buckets"]
    assert b["label"] == "task=needlework_tiny_mc" and b["n"] == 3
    assert b["metrics"]["score"]["accuracy"] in (0.0, 0.333333, 0.666667, 1.0)
    task = res["describe"]["tasks"]["needlework_tiny_mc"]
    assert task["harness_metric"] == "acc,none" and task["model"] == "needlework-hf" and task["n"] == 3
    assert task["harness_metrics"]["acc,none"] == pytest.approx(b["metrics"]["score"]["accuracy"], abs=1e-6)
    # Per item, in the run's samples.jsonl like every benchmark: stable ids, a 0/1 score each.
    rows = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    assert [r["item_id"] for r in rows] == [f"needlework_tiny_mc/{i}" for i in range(3)]
    assert all(r["benchmark"] == "general" and r["scores"]["score"] in (0.0, 1.0) for r in rows)
    assert sum(r["scores"]["score"] for r in rows) == b["metrics"]["score"]["correct"]
    assert (run / "general" / "needlework_tiny_mc.json").exists()
    # Finished tasks are skipped on a re-run (no harness call): same numbers.
    run_eval(cfg)
    again = json.loads((run / "results.json").read_text())["benchmarks"]["general"]
    assert again["buckets"] == res["buckets"]


def test_general_unknown_task_is_named(tmp_path, local_task, tiny_model_dir):
    s = GeneralConfig(tasks=["no_such_task_xyz"], include_path=str(local_task), include_defaults=False)
    cfg = EvalConfig(model=str(tiny_model_dir), benchmarks=["general"])
    with pytest.raises(ConfigError, match="no task 'no_such_task_xyz'"):
        plan(s, cfg)


def _sample(doc_id, filt, **metrics):
    return {"doc_id": doc_id, "filter": filt, "metrics": list(metrics), "resps": [[f"so #### {doc_id}"]],
            "filtered_resps": [f"{filt}:{doc_id}"], "prompt_hash": f"h{doc_id}", **metrics}


def test_sample_rows_merge_filters_and_take_the_task_primary():
    samples = {"gsm8k": [_sample(1, "strict-match", exact_match=0.0), _sample(0, "strict-match", exact_match=1.0),
                         _sample(1, "flexible-extract", exact_match=1.0),
                         _sample(0, "flexible-extract", exact_match=1.0)]}
    rows = sample_rows("gsm8k", samples)
    assert [r["item_id"] for r in rows] == ["gsm8k/0", "gsm8k/1"]
    assert rows[1]["scores"] == {"score": 0.0, "exact_match,strict-match": 0.0, "exact_match,flexible-extract": 1.0}
    assert rows[1]["output"] == "so #### 1" and rows[1]["parsed"] == "strict-match:1"   # raw text, primary filter's
    assert rows[1]["bucket"] == "task=gsm8k"
    assert rows[1]["primary"] == "exact_match,strict-match"
    mmlu = sample_rows("mmlu", {"mmlu_b": [_sample(0, "none", acc=1.0)], "mmlu_a": [_sample(0, "none", acc=0.0)]})
    assert [(r["item_id"], r["axes"], r["scores"]["score"]) for r in mmlu] == [
        ("mmlu_a/0", {"task": "mmlu"}, 0.0), ("mmlu_b/0", {"task": "mmlu"}, 1.0)]


@pytest.fixture(scope="module")
def other_tiny_model(tmp_path_factory, tiny_model_dir):
    """The tiny model with every weight perturbed: another model of the same shape and tokenizer."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM
    out = tmp_path_factory.mktemp("tiny-other")
    for f in tiny_model_dir.iterdir():
        if f.is_file():
            shutil.copy(f, out / f.name)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    model.save_pretrained(out)
    return out


def test_multiple_choice_items_keep_every_choices_logprob(tmp_path, local_task, tiny_model_dir, other_tiny_model):
    """Per-item evidence for log-likelihood tasks: each choice's logprob, the choice picked and the gold one, so
    'the fine-tuned model was evaluated' can be checked from samples.jsonl (two models: different logprobs)."""
    runs, hashes = {}, {}
    for name, model in (("a", tiny_model_dir), ("b", other_tiny_model)):
        cfg = load_config(EvalConfig, None, [f"out={tmp_path / name}", f"model={model}", "benchmarks=[general]",
                                             "general.tasks=[needlework_tiny_mc]", f"general.include_path={local_task}",
                                             "general.model_args=dtype=float32"])
        out = run_eval(cfg)
        runs[name] = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
        hashes[name] = json.loads((out / "results.json").read_text())["provenance"]["weights_sha256"]
    for rows in runs.values():
        for r, doc in zip(rows, DOCS):
            assert [c["text"] for c in r["choices"]] == [" " + c for c in doc["choices"]]
            lps = [c["logprob"] for c in r["choices"]]
            assert r["chosen"] == lps.index(max(lps)) and r["target"] == doc["label"]
            assert r["output"] == r["choices"][r["chosen"]]["text"] and r["chance"] == 0.5
            assert r["scores"]["score"] == float(r["chosen"] == r["target"])
    logprobs = {n: [[c["logprob"] for c in r["choices"]] for r in rows] for n, rows in runs.items()}
    assert logprobs["a"] != logprobs["b"]
    assert all(len(h) == 64 for h in hashes.values()) and hashes["a"] != hashes["b"]


def test_a_model_retrained_in_place_is_evaluated_afresh(tmp_path, local_task, tiny_model_dir, other_tiny_model):
    """Same model folder, same output folder, new weights: neither needlework's per-task result nor lm-eval's own
    request cache may hand back the old model's log-likelihoods."""
    import shutil
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)

    def logprobs(out_name: str) -> list:
        cfg = load_config(EvalConfig, None, [f"out={tmp_path / out_name}", f"model={folder}", "benchmarks=[general]",
                                             "general.tasks=[needlework_tiny_mc]", f"general.include_path={local_task}",
                                             "general.model_args=dtype=float32"])
        rows = [json.loads(x) for x in (run_eval(cfg) / "samples.jsonl").read_text().splitlines()]
        return [[c["logprob"] for c in r["choices"]] for r in rows]

    before = logprobs("e")
    shutil.copy(other_tiny_model / "model.safetensors", folder / "model.safetensors")   # "retrained"
    assert logprobs("e") == logprobs("fresh") != before

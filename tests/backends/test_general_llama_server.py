"""`general` through a real llama.cpp server (bundled SmolLM2 GGUF) on a tiny limit: a multiple-choice task scored
from prompt logprobs (lm-eval's local-completions, echo) and a generative one through the chat endpoint, with
the same answers the local model gives."""
from __future__ import annotations

import json

import pytest

from needlework.backends.server_launcher import LlamaServer, llama_cpp_available
from needlework.evals.general.benchmark import GeneralConfig
from needlework.evals.runner import EvalConfig, run_eval
from lm_eval_tasks import GEN, MC, write_task

pytestmark = [pytest.mark.server,
              pytest.mark.skipif(not llama_cpp_available(), reason="llama-cpp-python[server] not installed "
                                 "(scripts/setup.sh --tests installs it)")]
pytest.importorskip("lm_eval")
pytest.importorskip("tenacity", reason="lm-eval's API models need lm-eval[api]")

MC_DOCS = [{"question": "The capital of France is", "choices": ["Paris", "a banana"], "label": 0},
      {"question": "Two plus two equals", "choices": ["purple", "four"], "label": 1},
      {"question": "Ice is made of frozen", "choices": ["water", "sand"], "label": 0}]
GEN_DOCS = [{"question": "What is the capital of France?", "answer": "Paris"},
       {"question": "What is the capital of Italy?", "answer": "Rome"}]


@pytest.fixture
def tasks(tmp_path):
    folder = tmp_path / "tasks"
    write_task(folder, "nw_server_mc", MC_DOCS, **{**MC, "doc_to_text": "{{question}}"})
    gen = {**GEN, "doc_to_text": "{{question}} Answer in one word.",
           "generation_kwargs": {"until": ["\n"], "max_gen_toks": 16, "do_sample": False}}
    return write_task(folder, "nw_server_gen", GEN_DOCS, **gen)


def test_general_through_llama_server(tmp_path, tasks):
    with LlamaServer("smollm2-135m-instruct", n_ctx=1024, n_threads=2) as srv:
        cfg = EvalConfig(model=srv.model_alias, out=str(tmp_path / "run"), benchmarks=["general"],
                         backend={"kind": "openai", "openai": {"base_url": srv.base_url, "concurrency": 2,
                                                              "tokenizer": "smollm2-135m-instruct", "timeout_s": 60,
                                                              "max_retries": 1}})
        cfg.general = GeneralConfig(tasks=["nw_server_mc", "nw_server_gen"], include_path=str(tasks), limit=3)
        run = run_eval(cfg)
    res = json.loads((run / "results.json").read_text())["benchmarks"]["general"]
    by_task = {b["axes"]["task"]: b for b in res["buckets"]}
    assert by_task["nw_server_mc"]["n"] == 3 and by_task["nw_server_gen"]["n"] == 2
    assert res["describe"]["tasks"]["nw_server_mc"]["model"] == "local-completions"
    assert res["describe"]["tasks"]["nw_server_gen"]["model"] == "local-chat-completions (chat template)"
    # SmolLM2-135M-Instruct gets these easy items right; a broken logprob path (wrong offsets) would not.
    assert by_task["nw_server_mc"]["metrics"]["score"]["accuracy"] >= 2 / 3
    rows = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    gen = [r for r in rows if r["axes"]["task"] == "nw_server_gen"]
    assert [r["item_id"] for r in gen] == ["nw_server_gen/0", "nw_server_gen/1"]
    assert all(isinstance(r["output"], str) for r in gen)
    assert "Paris" in gen[0]["output"] and "Rome" in gen[1]["output"]

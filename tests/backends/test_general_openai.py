"""`general` for a model behind the openai backend (Table 1's GPT-3.5 rows): the harness's chat-completions
model sends every request to the backend's server; here a local stand-in that echoes the prompt."""
from __future__ import annotations

import json

import pytest

from needlework.evals.general import GeneralSettings, harness_model
from needlework.evals.runner import EvalConfig, run_eval

pytest.importorskip("lm_eval")

DOCS = [{"question": "2 + 2 =", "answer": "echo: Q: 2 + 2 ="}, {"question": "sky?", "answer": "echo: Q: sky?"},
        {"question": "water?", "answer": "wrong"}]


@pytest.fixture
def gen_task(tmp_path):
    data = tmp_path / "gen.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "gen.yaml").write_text(f"""task: needlework_tiny_gen
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "Q: {{{{question}}}}"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: ["\\n\\n"]
  do_sample: false
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
""")
    return tasks


def test_harness_model_for_each_backend(tiny_model_dir):
    s = GeneralSettings()
    assert harness_model(str(tiny_model_dir), {"kind": "hf"}, s)[0] == "hf"
    kind, args, chat = harness_model("gpt-3.5-turbo-1106", {"kind": "openai", "concurrency": 4}, s)
    assert (kind, chat) == ("openai-chat-completions", True)
    assert args == "model=gpt-3.5-turbo-1106,num_concurrent=4"
    kind, args, _ = harness_model("m", {"kind": "openai", "base_url": "http://127.0.0.1:9/v1/"}, s)
    assert kind == "local-chat-completions" and "base_url=http://127.0.0.1:9/v1/chat/completions" in args


def test_general_through_openai_backend(tmp_path, gen_task, fake_openai, monkeypatch):
    pytest.importorskip("tenacity", reason="lm-eval's API models need lm-eval[api] (tenacity)")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    cfg = EvalConfig(model="fake-model", out=str(tmp_path / "run"), benchmarks=["general"],
                     backend={"kind": "openai", "base_url": fake_openai.base_url, "concurrency": 1})
    cfg.general = GeneralSettings(tasks=["needlework_tiny_gen"], include_path=str(gen_task), include_defaults=False,
                                  limits={"needlework_tiny_gen": 2})
    run = run_eval(cfg)
    (b,) = json.loads((run / "results.json").read_text())["benchmarks"]["general"]["buckets"]
    assert b["n"] == 2 and b["metrics"]["score"]["accuracy"] == 1.0      # limits: first 2 docs, both echoed right
    chats = [r for r in fake_openai.log if r["path"] == "/v1/chat/completions"]
    assert len(chats) == 2 and all(r["model"] == "fake-model" for r in chats)
    assert chats[0]["messages"][-1]["content"] == "Q: 2 + 2 ="

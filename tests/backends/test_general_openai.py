"""`general` for a model behind the openai backend (Table 1's GPT-3.5 rows): the harness's chat-completions
model sends every request to the backend's server; here a local stand-in that echoes the prompt."""
from __future__ import annotations

import json

import pytest

from needlework.backends import BackendConfig, HFBackendConfig, OpenAIBackendConfig
from needlework.config import ConfigError
from needlework.evals.general.benchmark import GeneralConfig, plan
from needlework.evals.general.models import harness_model
from needlework.evals.runner import EvalConfig, run_eval
from lm_eval_tasks import GEN, MC, write_task

pytest.importorskip("lm_eval")

DOCS = [{"question": "2 + 2 =", "answer": "echo: Q: 2 + 2 ="}, {"question": "sky?", "answer": "echo: Q: sky?"},
        {"question": "water?", "answer": "wrong"}]


@pytest.fixture
def gen_task(tmp_path):
    return write_task(tmp_path / "tasks", "needlework_tiny_gen", DOCS, **GEN)


@pytest.fixture
def mc_task(tmp_path):
    return write_task(tmp_path / "mc_tasks", "needlework_tiny_mc", [{"question": "2 + 2 =", "choices": ["4", "5"],
                                                                    "label": 0}], **MC)


def test_a_backend_that_cannot_score_loglikelihood_is_refused_at_plan_time(tmp_path, mc_task, fake_openai):
    """Before any model call: the chat-only OpenAI API, and a server whose completions carry no prompt logprobs."""
    s = GeneralConfig(tasks=["needlework_tiny_mc"], include_path=str(mc_task))
    cfg = EvalConfig(model="gpt-3.5-turbo", benchmarks=["general"], backend={"kind": "openai"})
    with pytest.raises(ConfigError, match="needlework_tiny_mc: the OpenAI API returns no prompt logprobs"):
        plan(s, cfg)
    cfg = EvalConfig(model="gpt-3.5-turbo", benchmarks=["general"],
                     backend={"kind": "openai", "openai": {"base_url": fake_openai.base_url}})
    with pytest.raises(ConfigError, match="needlework_tiny_mc: the server returns no logprobs for prompt tokens"):
        plan(s, cfg)
    assert [r["path"] for r in fake_openai.log] == ["/v1/completions"]          # the one probe, nothing else
    assert fake_openai.log[0]["echo"] is True


def test_harness_model_for_each_backend(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    local = BackendConfig(kind="hf", model=str(tiny_model_dir))
    assert harness_model(local, "multiple_choice").kind == "needlework-hf"   # lm-eval's hf, contexts shared
    assert harness_model(local, "multiple_choice", kind="hf").kind == "hf"   # general.harness_model=hf
    # the harness's hf model follows the backend's precision policy like every other hf evaluation
    for dtype, want in (("fp32", "float32"), ("bf16", "bfloat16")):
        typed = BackendConfig(kind="hf", model=str(tiny_model_dir), hf=HFBackendConfig(precision=dtype))
        hf = harness_model(typed, "multiple_choice")
        assert hf.kwargs["dtype"] == want
    api = BackendConfig(kind="openai", model="gpt-3.5-turbo-1106", openai=OpenAIBackendConfig(concurrency=4))
    m = harness_model(api, "generate_until")
    assert (m.kind, m.chat) == ("openai-chat-completions", True)
    assert m.kwargs["model"] == "gpt-3.5-turbo-1106" and m.kwargs["num_concurrent"] == 4
    assert m.kwargs["header"] == {"Authorization": "Bearer sk-x"}
    srv = BackendConfig(kind="openai", model="m", openai=OpenAIBackendConfig(base_url="http://127.0.0.1:9/v1/",
                                                                       tokenizer=str(tiny_model_dir)))
    m = harness_model(srv, "generate_until")
    assert m.kind == "local-chat-completions" and m.kwargs["base_url"] == "http://127.0.0.1:9/v1/chat/completions"
    m = harness_model(srv, "multiple_choice")          # log-likelihoods: completions with echo, local tokenizer
    assert m.kind == "local-completions" and not m.chat and m.kwargs["base_url"] == "http://127.0.0.1:9/v1/completions"
    assert m.kwargs["tokenizer"] == str(tiny_model_dir) and m.kwargs["tokenizer_backend"] == "huggingface"
    raw = BackendConfig(kind="openai", model="m", chat_template="off",
                        openai=OpenAIBackendConfig(base_url="http://127.0.0.1:9/v1"))
    assert harness_model(raw, "generate_until").kind == "local-completions"     # raw prompts, no template


def test_general_through_openai_backend(tmp_path, gen_task, fake_openai, monkeypatch):
    pytest.importorskip("tenacity", reason="lm-eval's API models need lm-eval[api] (tenacity)")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    cfg = EvalConfig(model="fake-model", out=str(tmp_path / "run"), benchmarks=["general"],
                     backend={"kind": "openai", "openai": {"base_url": fake_openai.base_url, "concurrency": 1}})
    cfg.general = GeneralConfig(tasks=["needlework_tiny_gen"], include_path=str(gen_task), include_defaults=False,
                                  limits={"needlework_tiny_gen": 2})
    run = run_eval(cfg)
    (b,) = json.loads((run / "results.json").read_text())["benchmarks"]["general"]["buckets"]
    assert b["n"] == 2 and b["metrics"]["score"]["accuracy"] == 1.0      # limits: first 2 docs, both echoed right
    chats = [r for r in fake_openai.log if r["path"] == "/v1/chat/completions"]
    assert len(chats) == 2 and all(r["model"] == "fake-model" for r in chats)
    assert chats[0]["messages"][-1]["content"] == "Q: 2 + 2 ="

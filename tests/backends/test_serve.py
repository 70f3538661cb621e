"""backend.openai.serve: `eval` (and so `run`) starts an OpenAI-compatible server for the evaluated model, waits until
it answers, evaluates through it and stops it; the cache keys on the configured command, not on the port, so a
re-run resumes. Tested against the real llama.cpp server (-m server); the config checks need no server."""
from __future__ import annotations

import json
import socket
import sys

import pytest

from needlework.backends import BackendConfig, OpenAIBackendConfig
from needlework.backends.server_launcher import llama_cpp_available, resolve_gguf
from needlework.config import ConfigError, load_config
from needlework.evals.runner import EvalConfig, run_eval

SERVE = [sys.executable, "-m", "llama_cpp.server", "--model", "{model}", "--model_alias", "{alias}", "--host",
         "{host}", "--port", "{port}", "--n_ctx", "2048", "--n_threads", "2"]


@pytest.mark.parametrize("kind, settings, named", [
    ("hf", {"serve": ["x", "{port}"]}, "needs backend.kind=openai"),
    ("openai", {"serve": ["x", "{port}"], "base_url": "http://127.0.0.1:1/v1"}, "remove base_url"),
    ("openai", {"serve": ["vllm", "serve", "{model}"]}, "{port} placeholder"),
])
def test_serve_settings_are_checked(kind, settings, named):
    with pytest.raises(ConfigError, match=named):
        BackendConfig(model="m", kind=kind, openai=OpenAIBackendConfig(**settings)).validate()


def _port_open(url: str) -> bool:
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) == 0


@pytest.mark.server
@pytest.mark.skipif(not llama_cpp_available(), reason="llama-cpp-python[server] not installed")
def test_eval_starts_the_server_evaluates_and_stops_it(tmp_path):
    gguf = resolve_gguf("smollm2-135m-instruct")

    def evaluate():
        cfg = load_config(EvalConfig, None, [f"out={tmp_path / 'e'}", f"model={gguf}", "benchmarks=[kv-retrieval]",
                                             "kv_retrieval.n=2", "kv_retrieval.positions=[1]",
                                             "kv_retrieval.num_dicts=[3]", "kv_retrieval.max_new_tokens=24",
                                             "backend.kind=openai", "backend.context_length=2048",
                                             "backend.progress=false"])
        cfg.backend.openai.serve = SERVE
        return json.loads((run_eval(cfg) / "results.json").read_text())

    res = evaluate()
    assert res["benchmarks"]["kv-retrieval"]["overall"]["n"] == 2
    url = res["provenance"]["served_at"]
    assert url.startswith("http://127.0.0.1:") and not _port_open(url)      # stopped after the evaluation
    lines = (tmp_path / "e" / "cache.jsonl").read_text().splitlines()
    again = evaluate()                                                       # another port, same cache keys
    assert (tmp_path / "e" / "cache.jsonl").read_text().splitlines() == lines
    assert again["benchmarks"] == res["benchmarks"]

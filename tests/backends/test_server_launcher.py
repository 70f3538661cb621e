"""The openai backend against a real llama.cpp server serving the bundled SmolLM2 GGUF on 127.0.0.1."""
from __future__ import annotations

import pytest

from needlework.backends import (BackendConfig, BackendError, ContextTooLong, OpenAIBackendConfig, Request,
                                 make_backend)
from needlework.backends.server_launcher import LlamaServer, llama_cpp_available

pytestmark = [pytest.mark.server,
              pytest.mark.skipif(not llama_cpp_available(), reason="llama-cpp-python[server] not installed "
                                 "(scripts/setup.sh --tests installs it)")]

N_CTX = 1024


@pytest.fixture(scope="module")
def server():
    with LlamaServer("smollm2-135m-instruct", n_ctx=N_CTX, n_threads=2) as srv:
        yield srv


@pytest.fixture(scope="module")
def backend(server):
    return make_backend(BackendConfig(kind="openai", model=server.model_alias, progress=False,
                                      context_length=server.n_ctx,
                                      openai=OpenAIBackendConfig(base_url=server.base_url, concurrency=2,
                                                                 tokenizer="smollm2-135m-instruct", timeout_s=60,
                                                                 max_retries=1)))


def test_chat_and_completion_requests(backend):
    chat = Request(messages=[{"role": "user", "content": "What is the capital of France?"}], max_new_tokens=16)
    raw = Request(prompt="The capital of France is", max_new_tokens=8)
    out = backend.generate([chat, raw])
    assert all(c.text.strip() for c in out), out
    assert "Paris" in out[0].text
    assert 0 < out[0].completion_tokens <= 16 and 0 < out[1].completion_tokens <= 8
    # Raw prompts are tokenized the same way locally and by the server (same vocabulary, no template).
    assert abs(out[1].prompt_tokens - backend.count_prompt_tokens(raw)) <= 1


def test_greedy_is_repeatable_and_stop_strings_cut(backend):
    req = Request(prompt="List three colours, one per line:\n1.", max_new_tokens=24)
    a, b = backend.generate([req, req])
    assert a.text == b.text
    [cut] = backend.generate([Request(prompt=req.prompt, max_new_tokens=24, stop=["\n"])])
    assert "\n" not in cut.text and a.text.startswith(cut.text)


def test_too_long_prompt_is_context_too_long(backend):
    long = Request(prompt="word " * (N_CTX + 50), max_new_tokens=8)
    from needlework.backends import overflowing

    assert overflowing(backend, [long]) == [0]
    with pytest.raises(ContextTooLong, match="does not fit"):
        backend.generate([long])


def test_unknown_gguf_is_a_clear_error(tmp_path):
    with pytest.raises(BackendError, match="no GGUF file"):
        LlamaServer(tmp_path / "missing.gguf")

"""The openai backend against a stdlib fake server: routing, order, retries, and clear errors."""
from __future__ import annotations

import time

import pytest

from needlework.backends import BackendConfig, BackendError, ContextTooLong, Request, make_backend
from needlework.backends.server_launcher import free_port
from needlework.backends.openai_compat import OpenAIBackend


def backend(fake, **kw) -> OpenAIBackend:
    kw = {"max_retries": 3, "backoff_s": 0.01, "progress": False, **kw}
    return OpenAIBackend("fake-model", base_url=fake.base_url, **kw)


def test_prompts_go_to_completions_and_messages_to_chat(fake_openai):
    b = backend(fake_openai)
    out = b.generate([Request(prompt="hello", max_new_tokens=7),
                      Request(messages=[{"role": "user", "content": "hi"}], max_new_tokens=5)])
    assert [c.text for c in out] == ["echo: hello", "echo: hi"]
    paths = sorted(r["path"] for r in fake_openai.log)
    assert paths == ["/v1/chat/completions", "/v1/completions"]
    sent = {r["path"]: r for r in fake_openai.log}
    assert sent["/v1/completions"]["max_tokens"] == 7 and sent["/v1/completions"]["temperature"] == 0
    assert out[0].prompt_tokens == 3 and out[0].completion_tokens == 2 and out[0].finish_reason == "length"


def test_order_is_kept_under_concurrency(fake_openai):
    b = backend(fake_openai, concurrency=4)
    out = b.generate([Request(prompt=f"p{i}") for i in range(20)])
    assert [c.text for c in out] == [f"echo: p{i}" for i in range(20)]


def test_stop_strings_cut_locally_and_at_most_four_are_sent(fake_openai):
    b = backend(fake_openai)
    [c] = b.generate([Request(prompt="a b\nc", stop=["x", "y", "z", "w", "\n"])])
    assert c.text == "echo: a b" and c.finish_reason == "stop"
    assert fake_openai.log[0]["stop"] == ["x", "y", "z", "w"]


def test_chat_template_on_sends_prompts_as_chat_with_system_prompt(fake_openai):
    b = backend(fake_openai, chat_template="on", system_prompt="Be brief.")
    [c] = b.generate([Request(prompt="question")])
    assert c.text == "echo: question"
    assert fake_openai.log[0]["messages"] == [{"role": "system", "content": "Be brief."},
                                              {"role": "user", "content": "question"}]


def test_retries_429_then_succeeds(fake_openai):
    fake_openai.fail = [(429, {"Retry-After": "0"}), (503, {})]
    [c] = backend(fake_openai).generate([Request(prompt="x")])
    assert c.text == "echo: x"
    assert len(fake_openai.log) == 3


def test_retries_are_bounded_with_exponential_backoff(fake_openai):
    fake_openai.fail = [(500, {})] * 10
    t = time.monotonic()
    with pytest.raises(BackendError, match=r"kept failing .*HTTP 500.* after 3 attempts"):
        backend(fake_openai, max_retries=2, backoff_s=0.1).generate([Request(prompt="x")])
    assert len(fake_openai.log) == 3
    assert time.monotonic() - t >= 0.1 + 0.2  # waited 0.1 s, then 0.2 s


def test_client_errors_are_not_retried(fake_openai):
    fake_openai.fail = [(400, {})]
    fake_openai.error_body = "bad field"
    with pytest.raises(BackendError, match="rejected request 0: HTTP 400: bad field"):
        backend(fake_openai).generate([Request(prompt="x")])
    assert len(fake_openai.log) == 1


def test_context_overflow_from_server_is_context_too_long(fake_openai):
    fake_openai.fail_on = "long"
    fake_openai.error_body = "This model's maximum context length is 2048 tokens. However, you requested 5000"
    with pytest.raises(ContextTooLong, match="request 1 does not fit") as e:
        backend(fake_openai, concurrency=1).generate([Request(prompt="ok"), Request(prompt="long")])
    assert e.value.indices == [1]


def test_unreachable_server_names_the_url_quickly():
    url = f"http://127.0.0.1:{free_port()}/v1"
    b = OpenAIBackend("m", base_url=url, max_retries=1, backoff_s=0.01, progress=False)
    t = time.monotonic()
    with pytest.raises(BackendError, match=f"cannot reach the server at {url}"):
        b.generate([Request(prompt="x")])
    assert time.monotonic() - t < 10


def test_context_length_from_models_then_props_then_config(fake_openai):
    assert backend(fake_openai).context_length() == 2048                     # vLLM's max_model_len
    fake_openai.models = [{"id": "fake-model", "meta": {"n_ctx_train": 8192, "n_ctx": 4096}}]
    assert backend(fake_openai).context_length() == 4096                     # llama.cpp server meta
    fake_openai.models = [{"id": "fake-model"}]
    fake_openai.props = {"default_generation_settings": {"n_ctx": 1024}}
    assert backend(fake_openai).context_length() == 1024                     # llama.cpp /props
    fake_openai.props = None
    assert backend(fake_openai).context_length() is None
    assert backend(fake_openai, context_length=300).context_length() == 300  # configured value wins


def test_api_key_comes_from_the_named_variable(fake_openai, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret-123")
    backend(fake_openai, api_key_env="MY_KEY").generate([Request(prompt="x")])
    assert set(fake_openai.auth) == {"Bearer sk-secret-123"}


def test_missing_key_for_openai_itself_names_the_variable(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(BackendError, match="NO_SUCH_KEY_VAR"):
        OpenAIBackend("gpt-3.5-turbo", api_key_env="NO_SUCH_KEY_VAR")


def test_refused_key_names_the_variable_not_the_key(fake_openai, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret-123")
    fake_openai.fail = [(401, {})]
    with pytest.raises(BackendError, match=r"\$MY_KEY") as e:
        backend(fake_openai, api_key_env="MY_KEY").generate([Request(prompt="x")])
    assert "sk-secret-123" not in str(e.value)


def test_prompt_tokens_counted_with_a_local_tokenizer(fake_openai, smollm2_tokenizer_dir):
    from transformers import AutoTokenizer

    b = backend(fake_openai, tokenizer=str(smollm2_tokenizer_dir))
    tok = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    assert b.count_prompt_tokens(Request(prompt="one two three")) == len(tok("one two three")["input_ids"])
    assert backend(fake_openai).count_prompt_tokens(Request(prompt="x")) is None


def test_make_backend_builds_openai(fake_openai):
    b = make_backend({"kind": "openai", "model": "fake-model", "openai": {"base_url": fake_openai.base_url},
                      "progress": False})
    assert isinstance(b, OpenAIBackend) and b.generate([Request(prompt="y")])[0].text == "echo: y"
    assert isinstance(BackendConfig(), BackendConfig)


CHAT = Request(messages=[{"role": "user", "content": "q"}], max_new_tokens=4)


@pytest.mark.parametrize("bad", ["null", "no-choices", "not-json"])
def test_a_reply_that_is_no_answer_is_retried(fake_openai, bad):
    fake_openai.bad = [bad]
    [c] = backend(fake_openai).generate([CHAT])
    assert c.text == "echo: q" and len(fake_openai.log) == 2


def test_replies_that_stay_malformed_fail_and_nothing_is_cached(fake_openai, tmp_path, capsys):
    """content: null three times: one error line, exit 3, and a re-run asks again (nothing was cached)."""
    from needlework.cli import main
    fake_openai.bad = ["null"] * 3
    args = ["eval", "--model", "fake-model", "--benchmarks", "kv-retrieval", "--out", str(tmp_path / "e"),
            "kv_retrieval.n=1", "kv_retrieval.positions=[1]", "kv_retrieval.num_dicts=[3]", "backend.kind=openai",
            f"backend.openai.base_url={fake_openai.base_url}", "backend.openai.max_retries=2",
            "backend.openai.backoff_s=0.01",
            "backend.progress=false", "backend.context_length=4096"]
    assert main(args) == 3
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.strip()]
    ours = [ln for ln in err if "needlework" in ln]   # above it, the progress bar the error cut short, closed
    assert len(ours) == 1 and ours[0] == err[-1] and ours[0].startswith("needlework: error:")
    assert "content is null" in ours[0] and "nothing of it was cached" in ours[0]
    cache = tmp_path / "e" / "cache.jsonl"
    assert not cache.exists() or cache.read_text() == ""
    assert main(args) == 0                       # the server answers now: asked again, answered, cached
    assert "echo: " in cache.read_text()


def test_a_key_pasted_into_api_key_env_is_refused_and_written_nowhere(tmp_path, capsys, monkeypatch):
    from needlework.cli import main
    planted = "sk-proj-PLANTED0123456789abcdef"
    args = ["eval", "--model", "m", "--benchmarks", "kv-retrieval", "--out", str(tmp_path / "e"),
            "backend.kind=openai", "backend.openai.base_url=http://127.0.0.1:9/v1",
            f"backend.openai.api_key_env={planted}"]
    assert main(args) == 2
    out = capsys.readouterr()
    assert "not the key itself" in out.err and planted not in out.out + out.err
    assert not any(planted in f.read_text(errors="ignore") for f in tmp_path.rglob("*") if f.is_file())
    monkeypatch.delenv("MY_UNSET_KEY_VAR", raising=False)
    assert main(args[:-1] + ["backend.openai.api_key_env=MY_UNSET_KEY_VAR"]) == 2
    assert "the environment variable MY_UNSET_KEY_VAR is not set" in capsys.readouterr().err

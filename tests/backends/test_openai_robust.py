"""The openai backend never keeps what is not an answer, never holds Ctrl-C, and says what a timeout is (issue 32).
Every server here is the stdlib fake on 127.0.0.1 (conftest.FakeOpenAI)."""
from __future__ import annotations

import json
import os
import signal
import threading

import pytest

from needlework.backends import BackendError, Request
from needlework.backends.openai_compat import OpenAIBackend

# the fake server's shapes (conftest.BAD_CHOICES; a test below checks that this list names them all)
SHAPES = ["choices-dict", "choices-null", "choices-number", "content-list", "content-number", "content-object",
          "empty-length", "message-null", "message-string"]
CHAT = Request(messages=[{"role": "user", "content": "q"}], max_new_tokens=4)


def backend(fake, **kw) -> OpenAIBackend:
    kw = {"max_retries": 2, "backoff_s": 0.01, "progress": False, **kw}
    return OpenAIBackend("fake-model", base_url=fake.base_url, **kw)


def eval_args(fake, out, *extra) -> list[str]:
    return ["eval", "--model", "fake-model", "--benchmarks", "kv-retrieval", "--out", str(out), "kv_retrieval.n=1",
            "kv_retrieval.positions=[1]", "kv_retrieval.num_dicts=[3]", "backend.kind=openai",
            f"backend.openai.base_url={fake.base_url}", "backend.openai.max_retries=1",
            "backend.openai.backoff_s=0.01",
            "backend.progress=false", "backend.context_length=4096", *extra]


def test_every_shape_of_the_fake_server_is_tried(fake_openai):
    assert SHAPES == sorted(type(fake_openai).__init__.__globals__["BAD_CHOICES"])   # conftest's own module


@pytest.mark.parametrize("shape", SHAPES)
def test_each_bad_reply_shape_is_retried(fake_openai, shape):
    fake_openai.bad = [shape]
    [c] = backend(fake_openai).generate([CHAT])
    assert c.text == "echo: q" and len(fake_openai.log) == 2


@pytest.mark.parametrize("shape", SHAPES)
def test_a_bad_reply_shape_is_never_cached(fake_openai, shape, tmp_path, capsys):
    """Bad until the retries run out: one error line naming what was wrong, an empty cache; fixed: answered."""
    from needlework.cli import main
    fake_openai.bad = [shape] * 2
    assert main(eval_args(fake_openai, tmp_path / "e")) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("needlework: error:") and "nothing of it was cached" in err[-1]
    assert "Traceback" not in "\n".join(err)
    cache = tmp_path / "e" / "cache.jsonl"
    assert not cache.exists() or cache.read_text() == ""
    assert main(eval_args(fake_openai, tmp_path / "e")) == 0
    [row] = [json.loads(x) for x in cache.read_text().splitlines()]
    assert row["text"].startswith("echo: ")


def test_an_empty_answer_cut_off_is_a_stated_error(fake_openai):
    fake_openai.bad = ["empty-length"] * 3
    with pytest.raises(BackendError, match="empty answer with finish_reason length"):
        backend(fake_openai).generate([CHAT])


def test_an_empty_answer_ended_by_a_stop_is_an_answer(fake_openai):
    """A stop string may end an answer before its first character: that is a (wrong) answer, not a fault."""
    fake_openai.bad = []
    b = backend(fake_openai)
    from needlework.backends.openai_compat import answer_of
    assert answer_of({"choices": [{"message": {"content": ""}, "finish_reason": "stop"}]}, chat=True) == ("", "stop")
    assert b.generate([CHAT])[0].text == "echo: q"


def test_a_bad_line_already_in_the_cache_is_skipped_and_asked_again(fake_openai, tmp_path, capsys):
    from needlework.cli import main
    out = tmp_path / "e"
    assert main(eval_args(fake_openai, out)) == 0
    cache = out / "cache.jsonl"
    [row] = [json.loads(x) for x in cache.read_text().splitlines()]
    (out / "results.json").unlink()
    cache.write_text("}{ not json\n" + json.dumps({**row, "text": 5}) + "\n")   # an older version's bad reply
    asked = len(fake_openai.log)
    assert main(eval_args(fake_openai, out)) == 0
    assert len(fake_openai.log) == asked + 1                                     # asked again
    assert "2 line(s) are not usable" in capsys.readouterr().err
    assert json.loads((out / "samples.jsonl").read_text())["output"].startswith("echo: ")


def test_the_served_model_name_is_recorded_and_a_mismatch_warned(fake_openai, tmp_path, capsys):
    from needlework.cli import main
    fake_openai.served_as = "another-model"
    assert main(eval_args(fake_openai, tmp_path / "e")) == 0
    assert "answered as model 'another-model', not the 'fake-model' asked for" in capsys.readouterr().err
    res = json.loads((tmp_path / "e" / "results.json").read_text())
    assert res["provenance"]["served_models"] == ["another-model"]
    [row] = [json.loads(x) for x in (tmp_path / "e" / "cache.jsonl").read_text().splitlines()]
    assert row["served_model"] == "another-model"


@pytest.fixture
def sigint_raises():
    """SIGINT raises KeyboardInterrupt in this test, however the suite was started: a process launched in the
    background of a non-interactive shell (`cmd &`, as CI scripts may) inherits SIGINT ignored, and Python then
    keeps it ignored, so the signal these tests send would be lost."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.timeout(30)   # a guard only: before the fix this waited for the 10-minute timeout and every retry
def test_ctrl_c_during_a_request_returns_at_once(fake_openai, sigint_raises):
    """A server that never answers, a request timeout of 10 minutes: SIGINT raises KeyboardInterrupt out of
    generate at once (the executor used to join the request thread, holding Ctrl-C for the whole timeout)."""
    b = backend(fake_openai, timeout_s=600, max_retries=5)
    b.generate([CHAT])                   # probed and answered once: the server works
    fake_openai.hang.set()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            b.generate([CHAT, CHAT, CHAT])
    finally:
        timer.cancel()


@pytest.mark.timeout(30)
def test_ctrl_c_in_eval_says_what_was_kept(fake_openai, tmp_path, capsys, sigint_raises):
    from needlework.cli import main
    fake_openai.hang.set()
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        rc = main(eval_args(fake_openai, tmp_path / "e", "backend.openai.timeout_s=600"))
    finally:
        timer.cancel()
    assert rc == 130
    assert "finished completions are kept in the output folder's cache.jsonl" in capsys.readouterr().err


def test_a_server_timeout_is_reported_as_a_timeout(fake_openai):
    b = backend(fake_openai, timeout_s=0.3, max_retries=1)
    b.generate([CHAT])
    fake_openai.hang.set()
    with pytest.raises(BackendError, match=r"did not answer within 0.3 s \(backend.openai.timeout_s\)") as e:
        b.generate([CHAT])
    assert "is it running" not in str(e.value)

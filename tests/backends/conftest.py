"""A tiny stdlib stand-in for an OpenAI-compatible server: scripted failures, echoing answers, a request log."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def _msg(content, finish="stop") -> list:
    return [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}]


# 200 replies of a shape that is no answer (issue 32): each must be retried and never cached
BAD_CHOICES = {
    "empty-length": _msg("", "length"),          # no text, cut off at max_tokens (completion_tokens 5)
    "content-number": _msg(5),
    "content-list": _msg(["a", "b"]),
    "content-object": _msg({"text": "a"}),
    "message-null": [{"index": 0, "message": None, "finish_reason": "stop"}],
    "message-string": [{"index": 0, "message": "hi", "finish_reason": "stop"}],
    "choices-number": 5,
    "choices-dict": {},
    "choices-null": None,
}


class FakeOpenAI:
    """`fail` holds (status, headers) answers given before the normal one; `log` records every POST body."""

    def __init__(self):
        self.fail: list[tuple[int, dict]] = []
        self.models: list[dict] = [{"id": "fake-model", "object": "model", "max_model_len": 2048}]
        self.props: dict | None = None
        self.log: list[dict] = []
        self.auth: list[str | None] = []
        self.error_body = "busy"
        self.fail_on: str | None = None  # answer 400 to requests whose body holds this text
        self.bad: list[str] = []         # malformed 200 answers given first: "null", "no-choices", "not-json",
        # and the shapes of BAD_CHOICES below ("empty-length", "content-number", "message-null", "choices-dict", ...)
        self.hang = threading.Event()    # set: POSTs are read and never answered (until the fixture ends)
        self.served_as: str | None = None   # the model name replies carry (default: the one asked for)
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def _handler(self):
        fake = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep test output clean
                pass

            def _send(self, status, body, headers=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                fake.auth.append(self.headers.get("Authorization"))
                if self.path == "/v1/models":
                    return self._send(200, {"object": "list", "data": fake.models})
                if self.path == "/props" and fake.props is not None:
                    return self._send(200, fake.props)
                self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.log.append({"path": self.path, **body})
                    fake.auth.append(self.headers.get("Authorization"))
                    failure = fake.fail.pop(0) if fake.fail else None
                    if fake.fail_on and fake.fail_on in json.dumps(body):
                        failure = (400, {})
                    bad = fake.bad.pop(0) if fake.bad and not failure else None
                if fake.hang.is_set():
                    fake.stopped.wait(60)
                    return None
                if failure:
                    status, headers = failure
                    return self._send(status, {"error": {"message": fake.error_body, "type": "x"}}, headers)
                if bad == "not-json":
                    data = b"<html>gateway hiccup</html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    return self.wfile.write(data)
                if bad in BAD_CHOICES:
                    return self._send(200, {"id": "c", "object": "chat.completion", "created": 0,
                                            "model": body["model"], "choices": BAD_CHOICES[bad],
                                            "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}})
                if bad:
                    choices = [] if bad == "no-choices" else [
                        {"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": "stop"}]
                    return self._send(200, {"id": "c", "object": "chat.completion", "created": 0,
                                            "model": body["model"], "choices": choices})
                usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
                if self.path == "/v1/chat/completions":
                    text = "echo: " + body["messages"][-1]["content"]
                    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    return self._send(200, {"id": "c", "object": "chat.completion", "created": 0,
                                            "model": fake.served_as or body["model"], "choices": [choice],
                                            "usage": usage})
                text = "echo: " + body["prompt"]
                choice = {"index": 0, "text": text, "finish_reason": "length", "logprobs": None}
                self._send(200, {"id": "c", "object": "text_completion", "created": 0,
                                 "model": fake.served_as or body["model"], "choices": [choice], "usage": usage})

        return H


@pytest.fixture
def fake_openai():
    fake = FakeOpenAI()
    fake.thread.start()
    yield fake
    fake.stopped.set()
    fake.server.shutdown()
    fake.server.server_close()

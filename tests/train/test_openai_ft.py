"""OpenAI fine-tuning against a local server that implements files + fine_tuning.jobs; the real SDK talks to it."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from train_helpers import make_rows

from needlework.config import ConfigError, from_dict
from needlework.io import JSONLError, write_jsonl
from needlework.train import TrainConfig, run_training
from needlework.train.openai_ft import openai_examples

KEY = "sk-test-SECRET-do-not-log-123"


class FakeOpenAI(BaseHTTPRequestHandler):
    state: dict = {}

    def log_message(self, *a):  # keep test output clean
        pass

    def _send(self, obj, code=200):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _file(self, status):
        return {"id": "file-1", "object": "file", "bytes": 10, "created_at": 0, "filename": "openai_upload.jsonl",
                "purpose": "fine-tune", "status": status}

    def do_POST(self):
        st = self.state
        st.setdefault("auth", []).append(self.headers.get("Authorization"))
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.endswith("/files"):
            if st.get("upload_fails"):
                return self._send({"error": {"message": "upstream exploded", "type": "server_error"}}, 500)
            st["upload"] = body
            st["file_checks"] = 0
            return self._send(self._file("uploaded"))
        if self.path.endswith("/fine_tuning/jobs"):
            st["job_created_after_checks"] = st.get("file_checks")
            st["job_request"] = json.loads(body)
            st["polls"] = 0
            return self._send(self._job("queued"))
        self._send({"error": {"message": "not found"}}, 404)

    def do_GET(self):
        st = self.state
        st.setdefault("auth", []).append(self.headers.get("Authorization"))
        if "/models/" in self.path:
            if self.path.endswith("/gone-model"):
                return self._send({"error": {"message": "The model `gone-model` does not exist"}}, 404)
            return self._send({"id": self.path.rsplit("/", 1)[1], "object": "model", "created": 0, "owned_by": "x"})
        if self.path.endswith("/files/file-1"):         # processing for two checks, then processed
            st["file_checks"] += 1
            return self._send(self._file("processed" if st["file_checks"] >= 3 else "uploaded"))
        if self.path.endswith("/files/file-metrics/content"):
            return self._send_raw(b"step,train_loss\n1,0.9\n2,0.5\n")
        if "/fine_tuning/jobs/ftjob-1/events" in self.path:
            n = st["polls"]
            data = [{"id": f"ev-{k}", "object": "fine_tuning.job.event", "created_at": k, "level": "info",
                     "message": f"Step {k}: training loss={1 / k:.2f}", "type": "metrics",
                     "data": {"step": k, "train_loss": 1 / k}} for k in range(1, n + 1)]
            return self._send({"object": "list", "data": data[::-1], "has_more": False})
        if "/fine_tuning/jobs/ftjob-1" in self.path:
            st["polls"] += 1
            status = "succeeded" if st["polls"] >= 3 else "running"
            return self._send(self._job(status))
        self._send({"error": {"message": "not found"}}, 404)

    def _send_raw(self, body: bytes):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _job(self, status):
        return {"id": "ftjob-1", "object": "fine_tuning.job", "created_at": 0, "model": "gpt-3.5-turbo-0125",
                "status": status, "training_file": "file-1", "validation_file": None, "organization_id": "org",
                "result_files": ["file-metrics"] if status == "succeeded" else [], "seed": 0,
                "hyperparameters": {"n_epochs": 2}, "error": None,
                "fine_tuned_model": "ft:gpt-3.5-turbo-0125:org:needlework:abc" if status == "succeeded" else None,
                "finished_at": None, "trained_tokens": 1234 if status == "succeeded" else None}


@pytest.fixture()
def server():
    FakeOpenAI.state = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", FakeOpenAI.state
    httpd.shutdown()


def _cfg(tmp_path, data, base_url, tokenizer):
    return from_dict(TrainConfig, {"backend": "openai", "data": [str(data)], "out": str(tmp_path / "ft"), "seed": 3,
                                   "openai": {"base_url": base_url, "poll_seconds": 0.01, "tokenizer": str(tokenizer),
                                              "n_epochs": 2}})


def test_openai_job_through_the_sdk(tmp_path, server, monkeypatch, capsys, smollm2_tokenizer_dir):
    base_url, state = server
    data = tmp_path / "train.jsonl"
    write_jsonl(data, make_rows(12, "openai"))
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    out = run_training(_cfg(tmp_path, data, base_url, smollm2_tokenizer_dir))
    record = json.loads((out / "openai_job.json").read_text())
    assert record["fine_tuned_model"] == "ft:gpt-3.5-turbo-0125:org:needlework:abc"
    assert record["status"] == "succeeded" and state["polls"] == 3
    assert state["auth"] and all(a == f"Bearer {KEY}" for a in state["auth"])
    req = state["job_request"]
    assert req["training_file"] == "file-1" and req["model"] == "gpt-3.5-turbo-0125" and req["seed"] == 3
    assert req["method"]["supervised"]["hyperparameters"]["n_epochs"] == 2
    # The uploaded file: chat rows with the paper's system message, meta stripped.
    lines = [json.loads(x) for x in (out / "openai_upload.jsonl").read_text().splitlines()]
    assert len(lines) == 12 and all(set(r) == {"messages"} for r in lines)
    assert [m["role"] for m in lines[0]["messages"]] == ["system", "user", "assistant"]
    assert b'"meta"' not in state["upload"] and b"gold_value" not in state["upload"]
    # The job was created only once the file was processed; events streamed, saved once each; metrics saved.
    assert state["job_created_after_checks"] == 3
    events = [json.loads(x) for x in (out / "openai_events.jsonl").read_text().splitlines()]
    assert [e["id"] for e in events] == ["ev-1", "ev-2", "ev-3"] and events[1]["data"]["train_loss"] == 0.5
    assert (out / "openai_result_file-metrics.csv").read_text().startswith("step,train_loss")
    assert record["result_files"] == ["openai_result_file-metrics.csv"]
    # The key never reaches output or files.
    captured = capsys.readouterr()
    assert "Step 2: training loss=0.50" in captured.out and "cost ~$" in captured.out
    assert KEY not in captured.out + captured.err
    for f in out.rglob("*"):
        if f.is_file():
            assert KEY not in f.read_text(errors="ignore"), f
    # A second call finds the finished job and creates nothing new.
    n_auth = len(state["auth"])
    run_training(_cfg(tmp_path, data, base_url, smollm2_tokenizer_dir))
    assert len(state["auth"]) == n_auth


def test_validation_errors(tmp_path, smollm2_tokenizer_dir, monkeypatch):
    data = tmp_path / "train.jsonl"
    write_jsonl(data, make_rows(12, "openai"))
    with pytest.raises(JSONLError, match=r"train.jsonl:1: .* exceed the model's per-example limit of 50"):
        openai_examples([str(data)], 50, str(smollm2_tokenizer_dir))
    rows = make_rows(12, "openai")
    rows[4]["messages"][1]["role"] = "assistant"
    write_jsonl(data, rows)
    with pytest.raises(JSONLError, match=r"train.jsonl:5: expected roles"):
        openai_examples([str(data)], 16385, str(smollm2_tokenizer_dir))
    write_jsonl(data, make_rows(12, "openai"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        run_training(_cfg(tmp_path, data, "http://127.0.0.1:9/v1", smollm2_tokenizer_dir))


def test_api_failures_are_one_error_line_and_a_gone_model_stops_before_upload(tmp_path, server, monkeypatch,
                                                                              smollm2_tokenizer_dir, capsys):
    from needlework.cli import main
    base_url, state = server
    data = tmp_path / "train.jsonl"
    write_jsonl(data, make_rows(12, "openai"))
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    args = ["train", "--backend", "openai", "--data", str(data), "--out", str(tmp_path / "ft"),
            f"openai.base_url={base_url}", f"openai.tokenizer={smollm2_tokenizer_dir}", "openai.poll_seconds=0.01"]
    state["upload_fails"] = True
    assert main(args) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["needlework: error: OpenAI file upload failed: HTTP 500: upstream exploded"]
    state.clear()
    assert main(args + ["openai.model=gone-model"]) == 2
    err = capsys.readouterr().err
    assert "openai.model: OpenAI base model gone-model: not found" in err and "Traceback" not in err
    assert "upload" not in state


def test_cost_estimate_from_the_price_table():
    from needlework.train.openai_ft import cost_estimate
    assert cost_estimate("gpt-3.5-turbo-1106", 1_000_000, 2).startswith("~$16.00 (1,000,000 tokens x 2 epochs")
    assert "service default, assumed" in cost_estimate("gpt-4o-mini-2024-07-18", 1_000_000, None)
    assert cost_estimate("davinci-002", 1000, 2).startswith("no price known for davinci-002")

"""`python scripts/fault_server.py PORT [--bad SHAPE] [--hang] [--served-as NAME]`: a stdlib stand-in for an
OpenAI-compatible server on 127.0.0.1, for the fault cases (and `backend.openai.serve`, which passes {port}). It lists
one model, answers every completion with "42" (or always with a reply of the broken SHAPE, or never)."""
from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _msg(content, finish="stop") -> list:
    return [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}]


SHAPES = {"empty-length": _msg("", "length"), "content-number": _msg(5), "content-list": _msg(["a"]),
          "message-null": [{"index": 0, "message": None, "finish_reason": "stop"}],
          "choices-number": 5, "choices-dict": {}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--bad", choices=sorted(SHAPES))
    ap.add_argument("--hang", action="store_true")
    ap.add_argument("--served-as")
    args = ap.parse_args()
    forever = threading.Event()

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _send(self, body):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._send({"object": "list", "data": [{"id": "fake", "object": "model", "max_model_len": 4096}]})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if args.hang:
                forever.wait()
            chat = self.path.endswith("/chat/completions")
            choices = SHAPES[args.bad] if args.bad else (
                _msg("42") if chat else [{"index": 0, "text": "42", "finish_reason": "stop"}])
            self._send({"id": "c", "object": "chat.completion" if chat else "text_completion", "created": 0,
                        "model": args.served_as or body.get("model"), "choices": choices,
                        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}})

    ThreadingHTTPServer(("127.0.0.1", args.port), H).serve_forever()


if __name__ == "__main__":
    main()

"""`python fake_server_main.py PORT`: the conftest's fake OpenAI-compatible server as a process of its own, for
`backend.serve` (which starts a server per evaluated model). It answers every request with the same text."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import FakeOpenAI  # noqa: E402

if __name__ == "__main__":
    from http.server import ThreadingHTTPServer
    fake = FakeOpenAI()
    fake.server.server_close()
    fake.server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), fake._handler())
    fake.server.serve_forever()

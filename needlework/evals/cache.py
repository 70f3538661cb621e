"""Per-run completion cache: one JSONL line per finished request, appended (and fsynced) as it arrives.

The key is a hash of everything that determines a completion: benchmark, item id, the request (prompt or
messages, generation settings) and the model identity. A re-run looks each item up and only sends the
misses, so a crash or Ctrl-C loses at most the batch in flight. A line cut short by a crash is dropped on
open (and the file trimmed back to its last complete line, so later appends start on a fresh line).
Over-context verdicts are cached too: a finished run re-scores without needing the model again.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..backends.base import Request
from ..io import append_jsonl, read_jsonl


def request_key(benchmark: str, item_id: str, request: Request, model: str) -> str:
    blob = json.dumps({"benchmark": benchmark, "item": item_id, "prompt": request.prompt,
                       "messages": request.messages, "max_new_tokens": request.max_new_tokens,
                       "stop": list(request.stop), "temperature": request.temperature, "model": model},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def prompt_hash(request: Request) -> str:
    body = request.prompt if request.prompt is not None else json.dumps(request.messages, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def _trim_partial_tail(path: Path) -> None:
    """Cut a last line that a crash left without its newline (it is unreadable and would glue onto the next)."""
    with open(path, "rb+") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        keep = data.rfind(b"\n") + 1
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())


class CompletionCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            _trim_partial_tail(self.path)
            for row in read_jsonl(self.path, skip_truncated_tail=True):
                if "key" in row:
                    self.rows[row["key"]] = row   # a later line for the same key wins

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def get(self, key: str) -> dict[str, Any] | None:
        return self.rows.get(key)

    def put(self, key: str, row: dict[str, Any]) -> None:
        row = {"key": key, **row}
        append_jsonl(self.path, row)
        self.rows[key] = row

    def __len__(self) -> int:
        return len(self.rows)

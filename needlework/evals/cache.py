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
from typing import Any, Callable

from ..backends.base import Request
from ..io import append_jsonl


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


def usable(row: Any) -> bool:
    """A cache line the scorer can read: a key, and either an over-context verdict or a completion text that is
    a string. Anything else (a line of another shape, a reply stored by an older version without checks) is
    skipped and its request asked again."""
    if not isinstance(row, dict) or not isinstance(row.get("key"), str):
        return False
    if row.get("over_context") is True:
        return True
    return row.get("over_context") in (False, None) and isinstance(row.get("text"), str)


def usable_loglikelihood(row: Any) -> bool:
    """A log-likelihood cache line (evals/companion.py): a key and a finite number, or an over-context verdict."""
    import math
    if not isinstance(row, dict) or not isinstance(row.get("key"), str):
        return False
    ll = row.get("ll")
    return row.get("over_context") is True or (isinstance(ll, (int, float)) and not isinstance(ll, bool)
                                               and math.isfinite(ll))


class CompletionCache:
    def __init__(self, path: str | Path, usable: Callable[[Any], bool] = usable):
        self.path = Path(path)
        self.rows: dict[str, dict[str, Any]] = {}
        self.skipped = 0   # lines that were not usable completions: their requests are sent again
        if self.path.exists():
            _trim_partial_tail(self.path)
            with open(self.path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except ValueError:
                        row = None
                    if usable(row):
                        self.rows[row["key"]] = row   # a later line for the same key wins
                    else:
                        self.skipped += 1
            if self.skipped:
                import sys
                print(f"needlework: {self.path}: {self.skipped} line(s) are not usable completions (cut short or "
                      "of another shape); skipped, their requests are sent again", file=sys.stderr)

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

"""Row shapes that fine-tuning stacks read, and the way back from any of them to (prompt, answer, meta).

- messages:          {"messages": [{"role": "user", ...}, {"role": "assistant", ...}], "meta": {...}}
                     (an optional system message first)
- prompt_completion: {"prompt": "...", "completion": "...", "meta": {...}}  (TRL's standard shape)
- openai:            {"messages": [system, user, assistant], "meta": {...}}; `meta` is stripped on upload
"""
from __future__ import annotations

from typing import Any

from ..base import Sample

SHAPES = ("messages", "prompt_completion", "openai")
OPENAI_SYSTEM = "Write a response that appropriately completes the request."


def to_row(sample: Sample, shape: str, system: str | None = None) -> dict[str, Any]:
    meta = {"task": sample.task, **sample.meta}
    if shape == "prompt_completion":
        return {"prompt": sample.prompt, "completion": sample.answer, "meta": meta}
    if shape == "openai":
        system = OPENAI_SYSTEM if system is None else system
    if shape not in SHAPES:
        raise ValueError(f"unknown format {shape!r}; choose one of {', '.join(SHAPES)}")
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": sample.prompt}, {"role": "assistant", "content": sample.answer}]
    return {"messages": messages, "meta": meta}


class RowError(ValueError):
    pass


def parse_row(row: dict[str, Any]) -> tuple[str | None, str, str, dict[str, Any]]:
    """(system, user prompt, answer, meta) from a row of any supported shape (also rows from other tools)."""
    meta = row.get("meta") or row.get("metadata") or {}
    if not isinstance(meta, dict):
        raise RowError(f"meta must be an object ({{\"key\": value, ...}}), got a {type(meta).__name__}")
    if "messages" in row:
        msgs = row["messages"]
        if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
            raise RowError("messages must be a list of {role, content} objects")
        roles = [m.get("role") for m in msgs]
        system = msgs[0].get("content") if roles and roles[0] == "system" else None
        body = msgs[1:] if system is not None else msgs
        if [m.get("role") for m in body] != ["user", "assistant"]:
            raise RowError(f"expected roles [system,] user, assistant; got {roles}")
        prompt, answer = body[0].get("content"), body[1].get("content")
    elif "prompt" in row and "completion" in row:
        system, prompt, answer = None, row["prompt"], row["completion"]
        if isinstance(prompt, list):   # TRL's conversational prompt/completion
            system = next((m["content"] for m in prompt if m.get("role") == "system"), None)
            prompt = next((m["content"] for m in prompt if m.get("role") == "user"), None)
        if isinstance(answer, list):
            answer = next((m["content"] for m in answer if m.get("role") == "assistant"), None)
    else:
        raise RowError("row has neither 'messages' nor 'prompt'/'completion'")
    if not isinstance(prompt, str) or not isinstance(answer, str):
        raise RowError("prompt and answer must be strings")
    return system, prompt, answer, meta

"""Fake in-memory backends for benchmark tests: no model, deterministic answers."""
from __future__ import annotations

import hashlib
import re


from needlework.backends.base import BackendError, Completion, Request


def _text(r: Request) -> str:
    return r.prompt if r.prompt is not None else r.messages[-1]["content"]


class FakeBackend:
    """Answers correctly for a deterministic ~`frac` of prompts (by prompt hash), else says something wrong.

    It knows the answers because it reads them out of the prompt the way a perfect model would."""
    name = "fake"

    def __init__(self, frac: float = 0.6, context: int | None = None, fail_after: int | None = None,
                 exc: type[BaseException] = KeyboardInterrupt):
        self.frac, self.context, self.fail_after, self.exc = frac, context, fail_after, exc
        self.calls = 0

    def context_length(self):
        return self.context

    def count_prompt_tokens(self, r: Request) -> int:
        return len(_text(r).split())

    def _good(self, text: str) -> bool:
        h = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
        return h < self.frac * 16**8

    def answer(self, text: str) -> str:
        good = self._good(text)
        m = re.search(r"Report the value of key (\d+)", text)
        if m:
            key = m.group(1)
            hit = re.search(r"Dictionary \[(\d+)\] \{[^}]*\b" + key + r": (\d+)", text)
            d, v = hit.groups()
            return f"Sure! The value of key {key} is {v if good else 1} and it is in Dictionary [{d}]."
        if "Question:" in text and "Document [" in text:
            title = re.search(r"Document \[1\]\(Title: ([^)]*)\)", text).group(1)
            return (title if good else "I don't know") + "\nextra line that is never scored"
        if "True or" in text or "’true’" in text:
            return "The answer is True" if good else "It is not true."
        return "?"

    def generate(self, requests):
        out = []
        for r in requests:
            if self.fail_after is not None and self.calls >= self.fail_after:
                raise self.exc("simulated crash")
            self.calls += 1
            out.append(Completion(self.answer(_text(r)), prompt_tokens=self.count_prompt_tokens(r)))
        return out


class UnreachableBackend(FakeBackend):
    def generate(self, requests):
        raise BackendError("server http://127.0.0.1:9/v1 is unreachable (connection refused)")



"""One small interface between benchmarks and models: a batch of requests in, completions out.

A backend knows no benchmark. A request is either a plain prompt (text continued as is) or chat
messages (rendered with the model's chat template, or sent as chat to a server). Greedy by default.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# How a model without a chat template (or trained with template=plain) reads its answer: evaluation sends the
# prompt as written (backends/render.py) and a base model continues it on the same line (" the United States"
# after "Answer:"), so training writes prompt + PLAIN_ANSWER_SEPARATOR + answer + EOS. A newline there taught a
# format evaluation never shows (the tuned model ended its turn at once); ending evaluation's prompts with one
# instead cost the base model its answers (Gemma-3-270M, MDQA dev 0.27 -> 0.07), which would flatter every
# fine-tune. Evaluation's format is fixed; training follows it.
PLAIN_ANSWER_SEPARATOR = " "


@dataclass
class Request:
    prompt: str | None = None                       # raw text (no chat template)
    messages: list[dict[str, str]] | None = None    # chat turns, rendered by the backend
    max_new_tokens: int = 100
    stop: list[str] = field(default_factory=list)   # cut the completion at the first of these
    temperature: float = 0.0

    def __post_init__(self):
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("a Request needs exactly one of prompt or messages")


@dataclass
class Completion:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    model: str | None = None                    # the model name the server's reply carried (servers only)


class Backend(Protocol):
    name: str

    def generate(self, requests: list[Request]) -> list[Completion]: ...

    def context_length(self) -> int | None:
        """Maximum prompt + completion tokens, when known."""
        ...

    def count_prompt_tokens(self, request: Request) -> int | None:
        """Tokens the prompt occupies as the model sees it, when the backend can tell without generating."""
        ...


class ScoresLogLikelihood(Protocol):
    """An optional capability beside `Backend` (the hf backend has it; a chat server does not): the summed
    log-probability, in nats, of each continuation's tokens after its request's prompt rendered exactly as
    generation renders it (chat template applied, so the continuation follows the assistant turn's start)."""

    def loglikelihood(self, pairs: list[tuple[Request, str]]) -> list[float]: ...


NO_LOGLIKELIHOOD = "companion measures need a backend with log-likelihoods"


def loglikelihood_missing(backend) -> str | None:
    """None when `backend` can score continuations (ScoresLogLikelihood), else why not, in words."""
    if callable(getattr(backend, "loglikelihood", None)):
        return None
    return f"{NO_LOGLIKELIHOOD} (backend {getattr(backend, 'name', type(backend).__name__)} has none)"


class BackendError(RuntimeError):
    """The model or server cannot be used (unreachable, missing, context too short); says which and why."""


class ContextTooLong(BackendError):
    """Some requests do not fit the model's context; `indices` says which (positions in the batch)."""

    def __init__(self, message: str, indices: list[int] | tuple[int, ...] = ()):
        super().__init__(message)
        self.indices = list(indices)


def fits(backend: Backend, request: Request) -> bool:
    """False when prompt + max_new_tokens is known to exceed the context; True when it fits or is unknown.

    Benchmarks call this (or `overflowing`) first, to count and report too-long samples instead of
    letting a backend truncate them silently or fail the whole batch."""
    limit = backend.context_length()
    if limit is None:
        return True
    n = backend.count_prompt_tokens(request)
    return n is None or n + request.max_new_tokens <= limit


def overflowing(backend: Backend, requests: list[Request]) -> list[int]:
    """Indices of the requests that do not fit the backend's context (see `fits`)."""
    return [i for i, r in enumerate(requests) if not fits(backend, r)]

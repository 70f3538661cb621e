"""Turning a Request into the exact text a model sees, and counting its tokens.

Shared by the hf backend (which generates from that text) and the openai backend (which only needs
exact prompt-token counts when a local tokenizer is configured). Keeping one renderer means a prompt
counted for the context check is byte-for-byte the prompt that is generated from.

Rules (`chat_template` setting):
  auto: messages go through the tokenizer's chat template when it has one; a raw prompt stays raw.
  on:   messages go through the template, and a raw prompt is wrapped as one user turn first;
        a tokenizer without a template is an error (asked for, cannot be honoured).
  off:  nothing is templated; messages are joined as plain text (for base models).
"""
from __future__ import annotations

from typing import Literal

from .base import BackendError, Request

ChatTemplateMode = Literal["auto", "on", "off"]


class Renderer:
    def __init__(self, tokenizer, chat_template: ChatTemplateMode = "auto", system_prompt: str | None = None):
        if chat_template not in ("auto", "on", "off"):
            raise ValueError(f"chat_template must be auto, on or off, not {chat_template!r}")
        self.tokenizer = tokenizer
        self.mode = chat_template
        self.system_prompt = system_prompt
        self.has_template = bool(getattr(tokenizer, "chat_template", None))
        if chat_template == "on" and not self.has_template:
            raise BackendError("chat_template=on but the tokenizer has no chat template; "
                               "use chat_template=auto or off for this model")

    def messages_for(self, request: Request) -> list[dict[str, str]] | None:
        """The chat turns this request becomes, or None when it is sent as raw text."""
        if request.messages is not None:
            msgs = list(request.messages)
        elif self.mode == "on":
            msgs = [{"role": "user", "content": request.prompt}]
        else:
            return None
        if self.system_prompt and not any(m.get("role") == "system" for m in msgs):
            msgs = [{"role": "system", "content": self.system_prompt}] + msgs
        return msgs

    def templated(self, request: Request) -> bool:
        """Whether the text comes from the chat template (then it already holds its special tokens)."""
        return self.messages_for(request) is not None and self.mode != "off" and self.has_template

    def text(self, request: Request) -> str:
        msgs = self.messages_for(request)
        if msgs is None:
            return request.prompt
        if self.templated(request):
            return self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        # No template (base model, or chat_template=off): the turns' contents as plain paragraphs.
        return "\n\n".join(m["content"] for m in msgs)

    def token_ids(self, request: Request) -> list[int]:
        # A chat template writes its own BOS/special tokens; adding them again would double them.
        return self.tokenizer(self.text(request), add_special_tokens=not self.templated(request))["input_ids"]

    def count(self, request: Request) -> int:
        return len(self.token_ids(request))


def cut_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    """Cut `text` before the earliest occurrence of any stop string; say whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)

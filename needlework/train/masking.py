"""The one place that turns (system, prompt, answer) into (input_ids, labels) with loss on the answer only.

Labels are -100 on every prompt token (the chat template's scaffolding included) and equal to the
input ids from the first answer token on, so the loss is the paper's "loss on the answer only". With a
chat template the end-of-turn tokens after the answer are targets too: the model must learn to stop.

The prompt is tokenised on its own and must be a token-prefix of the full sequence; if a tokenizer merges
across the boundary the split would be wrong, so that is an error rather than a silently shifted mask.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backends.base import PLAIN_ANSWER_SEPARATOR

IGNORE = -100


class MaskingError(ValueError):
    """A sample cannot be split into prompt and answer tokens as required."""


class SequenceTooLong(MaskingError):
    pass


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    answer_start: int          # index of the first answer token in input_ids
    answer_end: int            # index after the last answer token (before end-of-turn tokens)


def uses_chat_template(tokenizer: Any, template: str = "auto") -> bool:
    has = bool(getattr(tokenizer, "chat_template", None))
    if template == "chat" and not has:
        raise MaskingError("template=chat but the tokenizer has no chat template")
    return has if template == "auto" else template == "chat"


def plain_training_identity(model: str, template: str = "auto") -> dict:
    """What a template-less training adds to its stage key: the separator between prompt and answer, which
    decides what the model learns to write. {} where the chat template renders (every templated key stays as it
    was) and where the model's tokenizer is not on this machine yet (the key gains the entry once it is: a
    training re-runs, never a model trained on another format is reused)."""
    if template == "chat":
        return {}
    if template == "auto":
        from ..tasks.tokenization.tokens import has_chat_template
        try:
            if has_chat_template(model):
                return {}
        except (ValueError, OSError):   # ConfigError is a ValueError
            return {}
    return {"plain_answer_separator": PLAIN_ANSWER_SEPARATOR}


def _ids(out: Any) -> list[int]:
    # apply_chat_template returns a list, or a BatchEncoding-like mapping in newer transformers.
    if isinstance(out, dict) or hasattr(out, "keys"):
        out = out["input_ids"]
    return list(out)


def encode(tokenizer: Any, prompt: str, answer: str, system: str | None = None, *, template: str = "auto",
           max_length: int | None = None, where: str = "sample") -> Encoded:
    """(input_ids, labels) for one sample; labels are IGNORE exactly on the prompt's tokens."""
    if not answer:
        raise MaskingError(f"{where}: empty answer, nothing to learn")
    if uses_chat_template(tokenizer, template):
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        prompt_ids = _ids(tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True))
        full_ids = _ids(tokenizer.apply_chat_template(msgs + [{"role": "assistant", "content": answer}],
                                                      tokenize=True))
    else:
        head = (system + "\n\n" if system else "") + prompt   # as evaluation renders a template-less request
        bos = [tokenizer.bos_token_id] if getattr(tokenizer, "add_bos_token", False) and tokenizer.bos_token_id \
            is not None else []
        prompt_ids = bos + tokenizer(head, add_special_tokens=False)["input_ids"]
        eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        full_ids = bos + tokenizer(head + PLAIN_ANSWER_SEPARATOR + answer, add_special_tokens=False)["input_ids"] + eos
    n = len(prompt_ids)
    if full_ids[:n] != prompt_ids:
        first = next((i for i, (a, b) in enumerate(zip(prompt_ids, full_ids)) if a != b), min(n, len(full_ids)))
        raise MaskingError(f"{where}: the prompt's {n} tokens are not a prefix of the full sequence's "
                           f"{len(full_ids)} tokens (first difference at token {first}); the tokenizer or template "
                           "merges text across the prompt/answer boundary")
    if len(full_ids) <= n:
        raise MaskingError(f"{where}: no answer tokens after the prompt; at least one label must be unmasked")
    if max_length is not None and len(full_ids) > max_length:
        raise SequenceTooLong(f"{where}: {len(full_ids)} tokens (prompt {n} + answer {len(full_ids) - n}) exceed "
                              f"max_length={max_length}; raise max_length or drop long samples (answers are never "
                              "truncated)")
    labels = [IGNORE] * n + full_ids[n:]
    answer_len = len(tokenizer(answer, add_special_tokens=False)["input_ids"])
    return Encoded(full_ids, labels, n, min(n + answer_len, len(full_ids)))

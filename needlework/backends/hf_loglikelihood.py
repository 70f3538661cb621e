"""Continuation log-likelihoods for the hf backend: log p(continuation | prompt), summed over its tokens, in nats.

The prompt is rendered and tokenized exactly as generation does (backends.render: chat template with the
assistant turn opened, special tokens not doubled); the continuation is tokenized on its own, without special
tokens, and appended, so its first token is scored where generation would produce its first token. Log-softmax
runs in fp32 whatever the model's precision (bf16 logits differ from fp32 ones in the third digit, and sums of
them over several tokens drift further).

Batched by shared prompt: several continuations of one prompt (a gold answer and the distractors' answers) cost
one prefill. The prompt's keys/values are computed once, repeated across the continuations, and the
continuations run as one right-padded batch after them; a token's keys/values depend only on the tokens before
it, so this equals scoring each prompt + continuation whole, up to float summation order.
"""
from __future__ import annotations

from .base import ContextTooLong, Request


def continuation_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def loglikelihood(backend, pairs: list[tuple[Request, str]]) -> list[float]:
    """One float per (request, continuation) pair, in the caller's order; ContextTooLong before any work when
    some prompt + continuation exceeds the model's context (its `indices` name them)."""
    prompts = [tuple(backend.renderer.token_ids(r)) for r, _ in pairs]
    conts = [continuation_ids(backend.tokenizer, c) for _, c in pairs]
    limit = backend.context_length()
    if limit is not None:
        bad = [i for i, (p, c) in enumerate(zip(prompts, conts)) if len(p) + len(c) > limit]
        if bad:
            raise ContextTooLong(f"{len(bad)} of {len(pairs)} prompt + continuation pairs exceed the model's "
                                 f"context of {limit} tokens", bad)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, p in enumerate(prompts):
        groups.setdefault(p, []).append(i)
    out = [0.0] * len(pairs)
    for prompt, idx in groups.items():
        scored = [i for i in idx if conts[i]]        # an empty continuation has probability 1: 0 nats
        for start in range(0, len(scored), backend.batch_size):
            chunk = scored[start:start + backend.batch_size]
            for i, v in zip(chunk, _score_group(backend, list(prompt), [conts[i] for i in chunk])):
                out[i] = v
    return out


def _score_group(backend, prompt: list[int], conts: list[list[int]]) -> list[float]:
    import torch

    model, device = backend.model, backend.device
    with backend.compute_context():
        first = model(input_ids=torch.tensor([prompt], device=device), use_cache=True, logits_to_keep=1)
        cache = first.past_key_values
        first_lp = first.logits[0, -1].float().log_softmax(-1)      # predicts every continuation's first token
        width = max(len(c) for c in conts)
        if width > 1:
            rows = len(conts)
            ids = torch.full((rows, width), backend.pad_id, dtype=torch.long)
            mask = torch.zeros((rows, len(prompt) + width), dtype=torch.long)
            mask[:, :len(prompt)] = 1
            for r, c in enumerate(conts):
                ids[r, :len(c)] = torch.tensor(c, dtype=torch.long)
                mask[r, len(prompt):len(prompt) + len(c)] = 1
            cache.batch_repeat_interleave(rows)
            positions = torch.arange(len(prompt), len(prompt) + width).unsqueeze(0).expand(rows, -1)
            rest = model(input_ids=ids.to(device), attention_mask=mask.to(device), past_key_values=cache,
                         position_ids=positions.to(device), use_cache=True)
            rest_lp = rest.logits.float().log_softmax(-1)           # rest_lp[r, j] predicts token j + 1 of row r
    out = []
    for r, c in enumerate(conts):
        total = float(first_lp[c[0]])
        for j in range(1, len(c)):
            total += float(rest_lp[r, j - 1, c[j]])
        out.append(total)
    return out

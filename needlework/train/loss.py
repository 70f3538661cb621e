"""Answer-only loss that computes the LM head only where there is a target.

For a 4K-token prompt with a 30-token answer, the full logits tensor is [4096, vocab] (49K for SmolLM2:
~800 MB in fp32 with its gradient) while only ~30 rows carry loss. Left-padded batches put every answer
at the end, so `logits_to_keep=K` (a standard transformers forward argument, also passed through PEFT and
DDP wrappers) makes the model apply its head to the last K positions only. The loss value is identical to
the full-logits loss (tested); the step is 1.6-2x faster on SmolLM2 at a few hundred tokens.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .masking import IGNORE


def answer_window(labels: torch.Tensor) -> int:
    """Logit positions needed: one before the first target of the longest answer, to the end."""
    targets = labels[:, 1:] != IGNORE
    if not bool(targets.any()):
        raise ValueError("batch has no answer tokens (every label is -100)")
    first = targets.float().argmax(dim=1)  # first target position per row (after the shift)
    width = labels.shape[1] - 1
    return int((width - first[targets.any(dim=1)]).max().item()) + 1


def answer_loss_sum(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """(sum of token losses over answer targets, number of targets) for a left-padded batch."""
    labels = batch["labels"]
    keep = answer_window(labels)
    out = model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"),
                position_ids=batch.get("position_ids"), logits_to_keep=keep, use_cache=False)
    logits = out.logits[:, :-1, :]                 # position t predicts token t+1
    targets = labels[:, labels.shape[1] - keep + 1:]
    assert logits.shape[1] == targets.shape[1], (logits.shape, targets.shape)
    loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=IGNORE, reduction="sum")
    return loss, int((targets != IGNORE).sum().item())


def token_losses(model, input_ids: list[int], labels: list[int]) -> list[float | None]:
    """Per-position loss of each target token (None where the label is masked): for loss maps."""
    ids = torch.tensor([input_ids], device=next(model.parameters()).device)
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False).logits[0, :-1].float()
    tgt = torch.tensor(labels[1:], device=logits.device)
    per = F.cross_entropy(logits, tgt.clamp(min=0), reduction="none")
    return [None] + [float(v) if t != IGNORE else None for v, t in zip(per.tolist(), tgt.tolist())]

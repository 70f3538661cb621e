"""Stop training when the answer is learned, measured on held-out samples, not after a fixed step count.

A step count chosen on one machine is wrong on another (and wrong for another model or task). Instead, every
`every` optimizer steps the model reads a few held-out samples (never trained on) under teacher forcing and
we count a sample as *learned* when every one of its answer tokens is the model's argmax: then greedy decoding
from the prompt reproduces the whole answer exactly, so this is exact-match accuracy of greedy generation,
computed with one forward pass (the LM head only at answer positions) instead of a decode loop.
Training stops once held-out exact match reaches `target` in `patience` consecutive checks. Each check is
logged to train_log.jsonl (`heldout_exact`, `heldout_loss`), so the learning curve shows why it stopped.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import TrainerCallback

from ..io import append_jsonl
from .config import EarlyStopSettings
from .loss import answer_window
from .masking import IGNORE


def value_positions(tokenizer, enc, answer: str, meta: dict) -> list[int]:
    """Label positions of the answer tokens that spell the gold value (as the loss map finds them)."""
    from .loss_map import answer_tokens, gold_strings
    return [i for i, _, value in answer_tokens(tokenizer, enc, answer, {"gold_value": gold_strings(meta, "value")})
            if value]


def heldout_batches(rows: list[dict], tokenizer, template: str, max_length: int, batch_size: int,
                    pad: int) -> list[dict]:
    """Left-padded batches of the held-out rows, each with a `value_mask` over its label positions."""
    from .batches import LeftPadCollator
    from .masking import encode
    collate = LeftPadCollator(pad)
    batches = []
    for start in range(0, len(rows), batch_size):
        feats, masks = [], []
        for r in rows[start:start + batch_size]:
            enc = encode(tokenizer, r["prompt"], r["answer"], r["system"], template=template, max_length=max_length,
                         where=r.get("where", "held-out"))
            feats.append({"input_ids": enc.input_ids, "labels": enc.labels})
            pos = set(value_positions(tokenizer, enc, r["answer"], r.get("meta") or {}))
            masks.append([i in pos for i in range(len(enc.input_ids))])
        batch = collate(feats)
        width = batch["labels"].shape[1]
        batch["value_mask"] = torch.tensor([[False] * (width - len(m)) + m for m in masks])
        batches.append(batch)
    return batches


@torch.no_grad()
def heldout_scores(model, batches: list[dict], autocast_bf16: bool = False) -> dict[str, float]:
    """Exact match (every answer token is the argmax), the same for the gold value's tokens alone (where
    batches carry a `value_mask`), and mean answer-token loss over held-out batches."""
    was_training = model.training
    model.eval()
    exact = samples = value_exact = value_samples = 0
    loss_sum, targets_n = 0.0, 0
    device = next(model.parameters()).device
    try:
        for batch in batches:
            labels = batch["labels"].to(device)
            keep = answer_window(labels)                 # the LM head only where answers are (see loss.py)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast_bf16):
                out = model(input_ids=batch["input_ids"].to(device),
                            attention_mask=batch["attention_mask"].to(device),
                            position_ids=batch["position_ids"].to(device), logits_to_keep=keep, use_cache=False)
            logits = out.logits[:, :-1].float()
            tgt = labels[:, labels.shape[1] - keep + 1:]
            mask = tgt != IGNORE
            hit = (logits.argmax(-1) == tgt) | ~mask
            exact += int(hit.all(dim=1).sum().item())
            if "value_mask" in batch:
                vmask = batch["value_mask"].to(device)[:, labels.shape[1] - keep + 1:]
                has = vmask.any(dim=1)
                value_exact += int(((hit | ~vmask).all(dim=1) & has).sum().item())
                value_samples += int(has.sum().item())
            samples += labels.shape[0]
            loss_sum += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1),
                                              ignore_index=IGNORE, reduction="sum"))
            targets_n += int(mask.sum().item())
    finally:
        model.train(was_training)
    out = {"heldout_exact": exact / max(samples, 1), "heldout_loss": loss_sum / max(targets_n, 1)}
    if value_samples:
        out["heldout_value_exact"] = value_exact / value_samples
    return out


class EarlyStopCallback(TrainerCallback):
    def __init__(self, settings: EarlyStopSettings, batches: list[dict], log_path, autocast_bf16: bool = False):
        self.s, self.batches, self.log_path, self.bf16 = settings, batches, log_path, autocast_bf16
        self.streak = 0
        self.stopped_at: int | None = None
        self.history: list[dict] = []

    def on_step_end(self, args, state, control, model=None, **kw):
        if state.global_step % self.s.every and state.global_step != state.max_steps:
            return
        scores = heldout_scores(model, self.batches, self.bf16)
        row = {"step": state.global_step, **{k: round(v, 5) for k, v in scores.items()}}
        self.history.append(row)
        if state.is_world_process_zero:
            append_jsonl(self.log_path, row)
        metric = "heldout_value_exact" if self.s.metric == "value" else "heldout_exact"
        if metric not in scores:
            raise ValueError("early_stop.metric=value needs samples whose meta names their gold_value (or gold_values)")
        self.streak = self.streak + 1 if scores[metric] >= self.s.target else 0
        if self.streak >= self.s.patience and state.global_step >= self.s.min_steps \
                and state.global_step < state.max_steps:
            self.stopped_at = state.global_step
            control.should_training_stop = True
            control.should_save = True     # the final weights are those of the step it stopped at
            if state.is_world_process_zero:
                print(f"\nneedlework train: answer learned ({metric} {scores[metric]:.2f} in "
                      f"{self.streak} checks); stopping at step {state.global_step} of {state.max_steps}")

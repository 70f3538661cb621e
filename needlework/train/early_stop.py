"""Stop training when the answer is learned, measured on held-out samples, not after a fixed step count.

A step count chosen on one machine is wrong on another (and wrong for another model or task). Instead, every
`every` optimizer steps the model reads a few held-out samples (never trained on) under teacher forcing and
we count a sample as *learned* when every one of its answer tokens is the model's argmax: then greedy decoding
from the prompt reproduces the whole answer exactly, so this is exact-match accuracy of greedy generation,
computed with one forward pass (the LM head only at answer positions) instead of a decode loop.
Where the MDQA probe is configured (train/mdqa_probe.py), the same checks also measure a real-task
signal (`transfer_em`). Training stops by `rule` on the chosen signal (EarlyStopConfig): at first saturation
(`target`) or once it stops rising (`plateau`). Each check is logged to train_log.jsonl (`heldout_exact`,
`heldout_value_exact`, `heldout_loss`, `transfer_em`), so the curves show why it stopped.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import TrainerCallback

from ..io import append_jsonl
from ..tasks.gold_spans import value_positions
from .config import EarlyStopConfig
from .loss import answer_window
from .masking import IGNORE


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


METRIC_KEYS = {"answer": "heldout_exact", "value": "heldout_value_exact", "mdqa-probe": "transfer_em"}


def metric_value(row: dict, s: EarlyStopConfig) -> float | None:
    """The stopping signal of one check row (None where that check did not measure it)."""
    if s.metric == "mix":
        t, v = row.get("transfer_em"), row.get("heldout_value_exact")
        return None if t is None or v is None else s.mix_weight * t + (1 - s.mix_weight) * v
    return row.get(METRIC_KEYS[s.metric])


def should_stop(history: list[dict], s: EarlyStopConfig) -> bool:
    """The stopping rule on the checks so far (see EarlyStopConfig): `target` once the signal is at target in
    the last `patience` checks; `plateau` once the last `patience` checks rose no more than `min_delta` above
    the best check before them."""
    vals = [v for v in (metric_value(r, s) for r in history) if v is not None]
    if s.rule == "target":
        return len(vals) >= s.patience and all(v >= s.target for v in vals[-s.patience:])
    if len(vals) <= s.patience:
        return False
    best_before = max(vals[:-s.patience])
    return all(v <= best_before + s.min_delta for v in vals[-s.patience:])


class EarlyStopCallback(TrainerCallback):
    """Every `every` optimizer steps (and at the last): the held-out synthetic scores, the MDQA probe where
    one is given and due, one train_log.jsonl row; then, when `stop` is set, the stopping rule."""

    def __init__(self, settings: EarlyStopConfig, batches: list[dict], log_path, autocast_bf16: bool = False,
                 probe=None, probe_every: int | None = None, stop: bool = True):
        self.s, self.batches, self.log_path, self.bf16 = settings, batches, log_path, autocast_bf16
        self.probe, self.probe_every, self.stop = probe, probe_every, stop
        self.stopped_at: int | None = None
        self.history: list[dict] = []

    def on_train_begin(self, args, state, control, model=None, **kw):
        if state.global_step == 0:   # the curve's first point is the model before training (not on a resume)
            self._check(state, model, probe_due=True)

    def _check(self, state, model, probe_due: bool) -> dict:
        scores = heldout_scores(model, self.batches, self.bf16)
        if self.probe is not None and probe_due:
            scores.update(self.probe.measure(model))
        row = {"step": state.global_step, **{k: (round(v, 5) if isinstance(v, float) else v)
                                             for k, v in scores.items()}}
        self.history.append(row)
        if state.is_world_process_zero:
            append_jsonl(self.log_path, row)
        return scores

    def on_step_end(self, args, state, control, model=None, **kw):
        last = state.global_step == state.max_steps
        if state.global_step % self.s.every and not last:
            return
        scores = self._check(state, model, last or state.global_step % (self.probe_every or 1) == 0)
        row = self.history[-1]
        if self.s.metric in ("value", "mix") and "heldout_value_exact" not in scores:
            raise ValueError(f"early_stop.metric={self.s.metric} needs samples whose meta names their gold_value "
                             "(or gold_values)")
        if self.stop and not last and state.global_step >= self.s.min_steps and should_stop(self.history, self.s):
            self.stopped_at = state.global_step
            control.should_training_stop = True
            control.should_save = True     # the final weights are those of the step it stopped at
            if state.is_world_process_zero:
                value = metric_value(row, self.s)
                why = (f"at target in {self.s.patience} checks" if self.s.rule == "target"
                       else f"no gain above {self.s.min_delta:g} in {self.s.patience} checks")
                print(f"\nneedlework train: {self.s.metric} signal {value:.2f}, {why}; stopping at step "
                      f"{state.global_step} of {state.max_steps}")

"""Trainer callbacks: JSONL training log, progress bar with loss and ETA, loss-curve PNG.

Only the main process writes. The log is append-only (each line flushed) so a crash keeps every finished
step; on resume the lines after the checkpoint's step are dropped first (rewritten atomically), so the
final log reads as one uninterrupted run.
"""
from __future__ import annotations

import time
from pathlib import Path

from transformers import TrainerCallback

from ..io import append_jsonl, atomic_path, read_jsonl, write_jsonl


class TokenCounter:
    """Shared between the trainer (which counts) and the log callback (which reports rates)."""

    def __init__(self):
        self.tokens = 0          # real (non-pad) tokens through forward+backward on this process
        self.targets = 0         # answer tokens that carried loss


class JsonlLogCallback(TrainerCallback):
    def __init__(self, path: Path, counter: TokenCounter, world_size: int = 1):
        self.path, self.counter, self.world = Path(path), counter, world_size
        self._t0, self._tok0 = None, 0

    def on_train_begin(self, args, state, control, **kw):
        if state.is_world_process_zero and self.path.exists():
            keep = [r for r in read_jsonl(self.path, skip_truncated_tail=True) if r.get("step", 0) <= state.global_step]
            write_jsonl(self.path, keep)
        self._t0, self._tok0 = time.perf_counter(), self.counter.tokens

    def on_log(self, args, state, control, logs=None, **kw):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        now = time.perf_counter()
        # Every process sees a same-sized share of the data, so the global rate is this rate x processes.
        rate = (self.counter.tokens - self._tok0) * self.world / max(now - self._t0, 1e-9)
        self._t0, self._tok0 = now, self.counter.tokens
        row = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), "loss": logs["loss"],
               "lr": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm"), "tokens_per_s": round(rate, 1),
               "time": round(time.time(), 3)}
        append_jsonl(self.path, row)


class ProgressCallback(TrainerCallback):
    """tqdm over optimizer steps, showing the last logged loss; tqdm supplies elapsed time and ETA."""

    def __init__(self, enabled: bool = True):
        self.enabled, self.bar = enabled, None

    def on_train_begin(self, args, state, control, **kw):
        if self.enabled and state.is_world_process_zero:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="train", unit="step",
                            dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kw):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kw):
        if self.bar is not None and logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}", lr=f"{logs.get('learning_rate', 0):.2e}")

    def on_train_end(self, args, state, control, **kw):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class LossCurveCallback(TrainerCallback):
    """Redraw the loss curve at every checkpoint and at the end, so an interrupted run still has one."""

    def __init__(self, log_path: Path, png_path: Path):
        self.log_path, self.png_path = Path(log_path), Path(png_path)

    def on_save(self, args, state, control, **kw):
        if state.is_world_process_zero:
            plot_loss_curve(self.log_path, self.png_path)

    def on_train_end(self, args, state, control, **kw):
        if state.is_world_process_zero:
            plot_loss_curve(self.log_path, self.png_path)


def plot_loss_curve(log_path: Path, png_path: Path) -> bool:
    if not Path(log_path).exists():
        return False
    rows = [r for r in read_jsonl(log_path, skip_truncated_tail=True) if r.get("loss") is not None]
    if not rows:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], lw=1.5, color="#1f77b4")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("answer-token loss")
    ax.set_yscale("log" if min(r["loss"] for r in rows) > 0 else "linear")
    ax.grid(alpha=0.3)
    ax.set_title("training loss (answer tokens only)")
    held = [r for r in read_jsonl(log_path, skip_truncated_tail=True) if r.get("heldout_exact") is not None]
    if held:   # early stopping's checks: held-out exact match on a second axis
        ax2 = ax.twinx()
        ax2.plot([r["step"] for r in held], [r["heldout_exact"] for r in held], "o-", ms=3, lw=1, color="#d62728")
        ax2.set_ylim(-0.02, 1.02)
        ax2.set_ylabel("held-out exact match", color="#d62728")
    fig.tight_layout()
    with atomic_path(png_path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return True

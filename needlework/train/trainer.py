"""transformers.Trainer glue: our answer-only loss, arguments from TrainConfig, and the callbacks.

The Trainer (with accelerate underneath) brings DDP/FSDP/DeepSpeed, bf16 autocast, gradient
checkpointing, checkpoints with optimizer/scheduler/RNG state, and exact resume. We replace only
`compute_loss`, so that loss is computed from logits at answer positions (see loss.py), and keep the
Trainer's gradient-accumulation and cross-process token normalisation: the loss of one optimizer step is
(sum of answer-token losses) / (answer tokens in the whole global batch), whatever the split.
"""
from __future__ import annotations

import os
from pathlib import Path

from transformers import Trainer, TrainingArguments

from .callbacks import TokenCounter
from .config import TrainConfig
from .loss import answer_loss_sum


class AnswerOnlyTrainer(Trainer):
    # compute_loss below already divides by the token count of the whole accumulated batch.
    loss_is_scaled_for_ga = True

    def __init__(self, *args, counter: TokenCounter | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.counter = counter or TokenCounter()
        self.seen_samples: list[int] = []
        # We never forward loss kwargs to the model, but we want the Trainer to count answer tokens over the
        # accumulated (and, with several processes, gathered) batch; that counting is keyed on this flag.
        self.model_accepts_loss_kwargs = True

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        index = inputs.pop("sample_index", None)
        if index is not None and model.training:
            self.seen_samples.extend(int(i) for i in index.tolist())
        loss_sum, n_targets = answer_loss_sum(model, inputs)
        self.counter.tokens += int(inputs["attention_mask"].sum().item())
        self.counter.targets += n_targets
        if num_items_in_batch is None:   # evaluation, or a single micro-batch: normalise locally
            loss = loss_sum / max(n_targets, 1) / (self.current_gradient_accumulation_steps if model.training else 1)
        else:
            loss = loss_sum / num_items_in_batch
            if self.args.average_tokens_across_devices and self.accelerator.num_processes > 1:
                # DDP averages gradients over processes; num_items_in_batch is the global count, so undo the mean.
                loss = loss * self.accelerator.num_processes
        return (loss, None) if return_outputs else loss


def one_device_per_process(args: TrainingArguments, world_size: int) -> str | None:
    """A single process that sees several GPUs: the Trainer would wrap the model in nn.DataParallel (each
    micro-batch split over them) while gradient accumulation was computed for one device per process, so
    the global batch would silently grow n_gpu-fold. Train on the first GPU only and say how to use all."""
    if world_size > 1 or args.n_gpu <= 1:
        return None
    seen = args.n_gpu
    args._n_gpu = 1   # the Trainer wraps in DataParallel only when n_gpu > 1
    return (f"{seen} GPUs are visible to one process: training on {args.device} only (the global batch stays as "
            f"configured). To train on all of them: accelerate launch --num_processes {seen} -m needlework.cli ...")


def training_arguments(cfg: TrainConfig, checkpoint_dir: Path, world_size: int, bf16: bool) -> TrainingArguments:
    """TrainingArguments from a resolved TrainConfig. Randomness comes from cfg.seed only. `bf16` is the
    precision already chosen for this device (needlework.precision.resolve)."""
    import torch
    cpu = cfg.device == "cpu" or not torch.cuda.is_available()
    if "wandb" in cfg.report_to:   # W&B offline unless the user chose otherwise (`wandb sync` uploads later)
        os.environ.setdefault("WANDB_MODE", "offline")
    return TrainingArguments(
        # Without a GPU, several processes (torchrun / accelerate) must be told to use gloo on CPU explicitly,
        # otherwise each process silently trains alone on the full data.
        use_cpu=cpu,
        ddp_backend="gloo" if cpu and world_size > 1 else None,
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum(world_size),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps is not None else -1,
        learning_rate=cfg.lr,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,          # a float < 1 is a fraction of the steps
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=bf16,
        **({"activation_checkpointing": True, "activation_checkpointing_kwargs": {"use_reentrant": False}}
           if cfg.gradient_checkpointing else {}),
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        save_only_model=cfg.checkpoint_weights_only,
        logging_steps=cfg.logging_steps,
        report_to=list(cfg.report_to) or "none",   # tensorboard writes under the checkpoint folder's runs/
        run_name=Path(cfg.out).name,
        disable_tqdm=True,                      # our ProgressCallback shows loss and ETA instead
        remove_unused_columns=False,            # the collator's sample_index must reach compute_loss
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        ddp_find_unused_parameters=False,
    )

"""run_training(cfg) -> output folder: the training stage's one entry point (CLI and pipeline call it).

Output folder: model (safetensors, merged or adapter) + tokenizer, train_config.yaml, provenance.json,
train_log.jsonl, loss_curve.png, samples_seen/rank*.json, and done.json last (the finished marker, io.write_done).
A finished folder with the same resolved config is skipped; an interrupted one resumes from its last
checkpoint under checkpoints/ when `resume` is set (the pipeline always sets it).
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from ..config import ConfigError, to_yaml
from ..io import atomic_open, folder_lock, write_done, write_json
from ..provenance import config_hash, save_provenance, world_rank
from .config import TrainConfig, finished_here

WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors", "pytorch_model.bin")


def _complete(ckpt: Path) -> bool:
    """The Trainer writes trainer_state.json last (after weights, optimizer, scheduler and RNG state): a checkpoint
    whose state file is missing or cut short was interrupted mid-save (Ctrl-C, a full disk)."""
    try:
        json.loads((ckpt / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return any((ckpt / w).exists() for w in WEIGHTS) and all(map(whole_safetensors, ckpt.glob("*.safetensors")))


def whole_safetensors(path: Path) -> bool:
    """Whether a .safetensors file holds every byte its header promises (a copy or a disk cut short does not,
    even when the checkpoint's trainer_state.json is complete): 8 bytes of header length, the JSON header, then
    the tensors up to the largest data offset."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        return path.stat().st_size >= 8 + n + end
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False


def _last_checkpoint(ckpt_dir: Path, move_aside: bool = True, log=print) -> str | None:
    """The newest complete checkpoint; newer incomplete ones are moved aside (`<name>.incomplete`, kept for a
    look, never resumed from or counted by the Trainer's rotation) and said."""
    if not ckpt_dir.is_dir():
        return None
    found = sorted((d for d in ckpt_dir.iterdir() if d.is_dir() and re.fullmatch(r"checkpoint-\d+", d.name)),
                   key=lambda d: int(d.name.split("-")[1]), reverse=True)
    for d in found:
        if _complete(d):
            return str(d)
        if not move_aside:
            continue
        cut = [w.name for w in d.glob("*.safetensors") if not whole_safetensors(w)]
        aside = d.with_name(f"{d.name}.incomplete")
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(d, aside)
        log(f"needlework train: {d.name} was not saved completely "
            f"({f'{cut[0]} is cut short' if cut else 'interrupted'}); moved aside to {aside.name}")
    return None


def prepare_output(cfg: TrainConfig, digest: str) -> tuple[Path, str | None, bool]:
    """(out dir, checkpoint to resume from, already done?) after checking what `out` holds."""
    out = Path(cfg.out)
    if finished_here(cfg, digest):
        return out, None, True
    world, rank = world_rank()
    if cfg.overwrite and out.exists() and rank == 0:
        shutil.rmtree(out)
    # every rank makes the same choice from the same files; rank 0 alone moves incomplete ones aside
    last = None if cfg.overwrite else _last_checkpoint(out / "checkpoints", move_aside=rank == 0)
    if last and not cfg.resume:
        raise ConfigError(f"out: {out} holds checkpoints of an interrupted run ({Path(last).name}); pass --resume "
                          "to continue it or --overwrite to start again")
    return out, last, False


def run_training(cfg: TrainConfig, context=None) -> Path:
    """Train (or resume, or skip a finished folder). `context`: the run's device, precision and threads
    (precision.RunContext); None (`needlework train`): resolved here, once, from cfg.precision / device /
    num_threads."""
    cfg.validate()
    cfg = cfg.resolved()
    with folder_lock(cfg.out):   # one writer per output folder
        if cfg.backend == "openai":
            from .openai_ft import run_openai
            return run_openai(cfg)
        digest = config_hash(cfg.identity())
        out, last, done = prepare_output(cfg, digest)
        if done:
            print(f"needlework train: {out} is already trained with this config; skipping")
            return out
        return _train_hf(cfg, out, last, digest, context)


def _train_hf(cfg: TrainConfig, out: Path, last: str | None, digest: str, context=None) -> Path:
    from ..models import load_causal_lm, load_tokenizer, resolve_model_path
    from .callbacks import JsonlLogCallback, LossCurveCallback, ProgressCallback, TokenCounter, plot_loss_curve
    from .batches import EncodedDataset, LeftPadCollator, pad_id, read_rows
    from .params import apply_policy, describe
    from .trainer import AnswerOnlyTrainer, one_device_per_process, training_arguments
    world, rank = world_rank()
    main = rank == 0
    if context is None:
        from ..precision import resolve_context
        context = resolve_context(cfg.precision, cfg.device, cfg.num_threads, log=print if main else None)
    context.apply()
    precision = context.precision
    path = resolve_model_path(cfg.model)
    tokenizer = load_tokenizer(path)
    rows = read_rows(cfg.data)
    held: list[dict] = []
    if cfg.early_stop.enabled or cfg.mdqa_probe.enabled:   # the last rows are held out: never trained on
        k = cfg.early_stop.held_out
        if len(rows) <= k:
            raise ConfigError(f"early_stop.held_out={k} leaves no training data ({len(rows)} rows)")
        rows, held = rows[:-k], rows[-k:]
    dataset = EncodedDataset(rows, tokenizer, cfg.template, cfg.max_length)
    # TrainingArguments first: they set up the launch's distributed state, and with a DeepSpeed ZeRO-3 config they
    # make from_pretrained build the model already partitioned (deepspeed.zero.Init); under FSDP with
    # cpu_ram_efficient_loading (presets/accelerate/fsdp.yaml) only local rank 0 reads the weights. Either way no
    # full copy per process in host RAM. tests/train/test_load_order.py holds this order.
    args = training_arguments(cfg, out / "checkpoints", world, bf16=precision.bf16)
    model = load_causal_lm(path)
    model = apply_policy(model, cfg.params, cfg.lora)
    if cfg.gradient_checkpointing and cfg.params != "full":
        model.enable_input_require_grads()   # frozen embeddings: checkpointed blocks still need an input grad
    if main:
        out.mkdir(parents=True, exist_ok=True)
        print(f"needlework train: {len(dataset)} samples, {dataset.num_tokens():,} tokens, {world} process(es)")
        print(describe(model, cfg.params))
        with atomic_open(out / "train_config.yaml") as f:
            f.write(to_yaml(cfg))
    counter = TokenCounter()
    log_path, png_path = out / "train_log.jsonl", out / "loss_curve.png"
    note = one_device_per_process(args, world)
    if main:
        if note:
            print(f"needlework train: {note}")
        print(f"needlework train: global batch {args.per_device_train_batch_size} per device x "
              f"{args.gradient_accumulation_steps} accumulation steps x {world} process(es) x "
              f"{max(args.n_gpu, 1)} device(s) each = "
              f"{args.per_device_train_batch_size * args.gradient_accumulation_steps * world * max(args.n_gpu, 1)}")
    trainer = AnswerOnlyTrainer(
        model=model, args=args,
        train_dataset=dataset,
        data_collator=LeftPadCollator(pad_id(tokenizer)), processing_class=tokenizer, counter=counter,
        callbacks=[JsonlLogCallback(log_path, counter, world), ProgressCallback(cfg.progress),
                   LossCurveCallback(log_path, png_path)])
    stopper = None
    if held:
        from .early_stop import EarlyStopCallback, heldout_batches
        batches = heldout_batches(held, tokenizer, cfg.template, cfg.max_length, cfg.batch_size, pad_id(tokenizer))
        probe = None
        if cfg.mdqa_probe.enabled:
            from .mdqa_probe import MdqaProbe
            probe = MdqaProbe(cfg.mdqa_probe, tokenizer, context)
        stopper = EarlyStopCallback(cfg.early_stop, batches, log_path, autocast_bf16=precision.bf16, probe=probe,
                                    probe_every=cfg.mdqa_probe.every, stop=cfg.early_stop.enabled)
        trainer.add_callback(stopper)
    from transformers.trainer_callback import PrinterCallback
    trainer.remove_callback(PrinterCallback)   # it prints raw log dicts; our progress bar shows the loss
    if last and main:
        print(f"needlework train: resuming from {last}")
    refuse_sharded_merge(cfg, trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled)
    result = trainer.train(resume_from_checkpoint=last)
    write_json(out / "samples_seen" / f"rank{rank}.json", trainer.seen_samples)
    _save_final(cfg, trainer, tokenizer, out, save_dtype(cfg, precision.bf16, precision.device))
    if main:
        plot_loss_curve(log_path, png_path)
        save_provenance(out / "provenance.json", cfg, config_hash=digest, model_path=str(path),
                        samples=len(dataset), tokens=dataset.num_tokens(), world_size=world,
                        global_step=result.global_step, train_loss=result.training_loss,
                        precision=precision.as_dict(), context=context.as_dict(), held_out=len(held),
                        stopped_early_at=stopper.stopped_at if stopper else None)
        write_done(out, digest, global_step=result.global_step, stopped_early=bool(stopper and stopper.stopped_at))
    trainer.accelerator.wait_for_everyone()
    if main and not cfg.keep_checkpoints:   # after done.json: an interruption before it still resumes from them
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
    return out


def refuse_sharded_merge(cfg: TrainConfig, sharded: bool) -> None:
    """A merged LoRA save needs the whole model on one process; under FSDP / ZeRO-3 rank 0 holds a shard, and
    merging there writes a broken model. Refused before training, with what to do instead."""
    if sharded and cfg.params == "lora" and cfg.save == "merged":
        raise ConfigError("save=merged with params=lora is not supported under FSDP or DeepSpeed ZeRO-3 (each rank "
                          "holds a shard; a merge on rank 0 would write a broken model): use save=adapter and merge "
                          "the adapter afterwards on one device, or train with DDP")


def save_dtype(cfg: TrainConfig, trained_bf16: bool, device: str) -> str:
    """bf16 or fp32 for the final weights (TrainConfig.save_dtype)."""
    if cfg.save_dtype != "auto":
        return cfg.save_dtype
    return "bf16" if trained_bf16 and device.startswith("cuda") else "fp32"


def _save_final(cfg: TrainConfig, trainer, tokenizer, out: Path, dtype: str = "fp32") -> None:
    """Write the model into a temporary folder, then move each file into `out` (no half-written weights)."""
    tmp = out / ".final.tmp"
    main = trainer.is_world_process_zero()
    if main and tmp.exists():
        shutil.rmtree(tmp)
    trainer.accelerator.wait_for_everyone()
    if cfg.params == "lora" and cfg.save == "merged":
        if main:
            merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
            merged.save_pretrained(tmp, safe_serialization=True)
    else:
        trainer.save_model(str(tmp))      # all ranks: gathers FSDP/DeepSpeed shards where needed
    if main and dtype == "bf16" and not (cfg.params == "lora" and cfg.save == "adapter"):
        _to_bf16(tmp)
    if main:
        tokenizer.save_pretrained(tmp)
        (tmp / "training_args.bin").unlink(missing_ok=True)   # a pickle; the YAML config is the record
        for f in tmp.iterdir():
            os.replace(f, out / f.name)
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()


def _to_bf16(folder: Path) -> None:
    """Rewrite the saved safetensors in bf16 and record the dtype in config.json (the model then loads as bf16)."""
    import json

    import torch
    from safetensors.torch import load_file, save_file
    for f in folder.glob("*.safetensors"):
        tensors = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v) for k, v in load_file(f).items()}
        save_file(tensors, f, metadata={"format": "pt"})
    cfg = folder / "config.json"
    if cfg.exists():
        data = json.loads(cfg.read_text())
        data["dtype"] = "bfloat16"
        cfg.write_text(json.dumps(data, indent=2) + "\n")

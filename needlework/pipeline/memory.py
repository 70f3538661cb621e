"""GPU memory a run needs, per GPU, from the model's config and the run's settings (`run --dry-run` prints it).

The paper's runs are Mistral-7B at 4.6K tokens (24K for v0.2) on 80 GB GPUs; whether a layout fits is known
before launching, not after an out-of-memory error an hour in. Per GPU, in GiB (2^30 bytes):

training   weights: every parameter in fp32 (the Trainer keeps fp32 masters under bf16 autocast), 4 bytes;
           gradients: trainable parameters, 4 bytes; Adam: two fp32 moments, 8 bytes per trainable parameter;
           activations (bf16) of one micro-batch: with gradient checkpointing each layer's input is kept
           (L x s x h) plus one layer recomputed at a time (s x (10 h + 3 i)); without, every layer's
           (L x s x (10 h + 3 i)); attention via SDPA's flash / memory-efficient kernels (no s^2 term); the LM
           head only at answer positions (needlework's loss), so no s x vocab logits.
           DDP: all of it on every GPU. FSDP / ZeRO-3: weights, gradients and Adam sharded over the GPUs, plus
           one layer's weights gathered at a time.
evaluation weights in bf16 (2 bytes per parameter) plus the KV cache of a batch: 2 x L x kv_heads x head_dim x
           (prompt + new tokens) x batch x 2 bytes.
Plus a fixed 2 GiB for the CUDA context and allocator slack. Estimates, within ~20% of what the allocator reports
for Llama/Mistral-shaped models; the GPU check (scripts/gpu_check.sh) measures peak memory on a real GPU.
"""
from __future__ import annotations

import json
from typing import Any

GIB = 2 ** 30
OVERHEAD_GIB = 2.0
# Configs of the presets' models, from their published config.json, for planning where the weights are not here.
KNOWN_CONFIGS = {
    "mistralai/Mistral-7B-Instruct-v0.1": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                                               num_attention_heads=32, num_key_value_heads=8, vocab_size=32000,
                                               tie_word_embeddings=False),
    "mistralai/Mistral-7B-Instruct-v0.2": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                                               num_attention_heads=32, num_key_value_heads=8, vocab_size=32000,
                                               tie_word_embeddings=False),
}


def model_config(spec: str) -> dict[str, Any] | None:
    """The architecture numbers of a model: its config.json where it is on this machine, else the table above."""
    from ..models import is_bundled, local_folder, resolve_model_path
    if is_bundled(spec):
        spec = resolve_model_path(spec)
    folder = local_folder(spec, "config.json")
    if folder is not None:
        cfg = json.loads((folder / "config.json").read_text())
        cfg = cfg.get("text_config", cfg)
        return {k: cfg.get(k) for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                                        "num_key_value_heads", "vocab_size", "tie_word_embeddings")}
    return KNOWN_CONFIGS.get(spec)


def parameter_counts(c: dict[str, Any], params: str = "attention", lora_r: int = 16) -> tuple[int, int, int]:
    """(all parameters, trainable parameters, parameters of one decoder layer)."""
    h, i, layers, vocab = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
    head_dim = h // c["num_attention_heads"]
    kv = (c.get("num_key_value_heads") or c["num_attention_heads"]) * head_dim
    attention = 2 * h * h + 2 * h * kv                 # q, o: h x h; k, v: h x kv
    layer = attention + 3 * h * i + 2 * h               # + gate/up/down, two norms
    embed = vocab * h * (1 if c.get("tie_word_embeddings") else 2)
    total = layers * layer + embed + h
    trainable = {"attention": layers * attention, "full": total,
                 "lora": layers * lora_r * (2 * (h + h) + 2 * (h + kv))}[params]
    return total, trainable, layer


def training_gib(c: dict[str, Any], tokens: int, *, params: str = "attention", lora_r: int = 16, batch: int = 1,
                 checkpointing: bool = True, gpus: int = 1, sharded: bool = False) -> float:
    total, trainable, layer = parameter_counts(c, params, lora_r)
    h, i, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    states = 4 * total + 4 * trainable + 8 * trainable
    if sharded:
        states = states / gpus + 2 * layer              # one layer's bf16 weights gathered at a time
    per_layer = tokens * batch * (10 * h + 3 * i) * 2
    acts = layers * tokens * batch * h * 2 + per_layer if checkpointing else layers * per_layer
    return (states + acts) / GIB + OVERHEAD_GIB


def eval_gib(c: dict[str, Any], tokens: int, batch: int) -> float:
    total, _, _ = parameter_counts(c)
    head_dim = c["hidden_size"] // c["num_attention_heads"]
    kv = 2 * c["num_hidden_layers"] * (c.get("num_key_value_heads") or c["num_attention_heads"]) * head_dim
    return (2 * total + kv * tokens * batch * 2) / GIB + OVERHEAD_GIB


LAYOUTS = (("1 GPU", 1, False), ("8 GPUs, DDP", 8, False), ("8 GPUs, FSDP", 8, True))


def memory_table(c: dict[str, Any], lengths: list[int], *, params: str, lora_r: int, batch: int,
                 checkpointing: bool, eval_batch: int) -> list[dict[str, Any]]:
    """One row per (layout, length): training and evaluation GiB per GPU."""
    return [{"layout": name, "tokens": n, "gpus": gpus,
             "train_gib": round(training_gib(c, n, params=params, lora_r=lora_r, batch=batch,
                                             checkpointing=checkpointing, gpus=gpus, sharded=sharded), 1),
             "eval_gib": round(eval_gib(c, n, eval_batch), 1)}
            for name, gpus, sharded in LAYOUTS for n in lengths]


def visible_gpus() -> list[float]:
    """Memory of each GPU this process sees, in GiB (none on a CPU machine)."""
    try:
        import torch
        if not torch.cuda.is_available():
            return []
        return [torch.cuda.get_device_properties(k).total_memory / GIB for k in range(torch.cuda.device_count())]
    except ImportError:
        return []


def memory_lines(rows: list[dict[str, Any]], gpus: list[float], checkpointing: bool) -> list[str]:
    """The table as plan lines, and a warning for each layout the visible GPUs cannot hold."""
    out = [f"GPU memory per GPU (estimate, GiB; gradient checkpointing {'on' if checkpointing else 'off'}):",
           f"  {'layout':14s} {'tokens':>7s} {'train':>7s} {'eval':>6s}"]
    out += [f"  {r['layout']:14s} {r['tokens']:>7,} {r['train_gib']:>7.1f} {r['eval_gib']:>6.1f}" for r in rows]
    if gpus:
        have = min(gpus)
        fits = [r for r in rows if r["gpus"] <= len(gpus)]
        for r in fits:
            if max(r["train_gib"], r["eval_gib"]) > 0.95 * have:
                out.append(f"WARNING: {r['layout']} at {r['tokens']:,} tokens needs ~{max(r['train_gib'], r['eval_gib']):.0f} "
                           f"GiB per GPU; the {len(gpus)} GPU(s) here have {have:.0f} GiB")
    return out

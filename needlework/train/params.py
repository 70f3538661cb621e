"""Which parameters train: `attention` (the paper), `lora` or `full`.

`attention` follows the paper's A.1 ("attention layers only"): the Linear projections inside each
attention block (q/k/v/o for Llama, Mistral, Gemma, Qwen...) train, everything else is frozen. Attention
blocks are found by module type name (…Attention) rather than by parameter-name patterns, so a new
architecture needs no table entry; norms inside the block (Gemma 3's q_norm/k_norm) stay frozen.
"""
from __future__ import annotations

from typing import Any

import torch.nn as nn

from ..config import ConfigError


def attention_projections(model: nn.Module) -> dict[str, nn.Linear]:
    """Qualified name -> Linear layer, for every Linear directly inside an attention block."""
    out: dict[str, nn.Linear] = {}
    for name, module in model.named_modules():
        if not type(module).__name__.endswith("Attention"):
            continue
        for child_name, child in module.named_children():
            if isinstance(child, nn.Linear):
                out[f"{name}.{child_name}"] = child
    if not out:
        raise ValueError(f"found no attention projections in {type(model).__name__}; use params=lora with explicit "
                         "target_modules, or params=full")
    return out


def attention_projection_names(model: nn.Module) -> list[str]:
    """Short names (q_proj, k_proj, ...) of the attention projections: LoRA's default targets."""
    return sorted({name.rsplit(".", 1)[-1] for name in attention_projections(model)})


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def apply_policy(model: nn.Module, policy: str, lora: Any = None) -> nn.Module:
    """Freeze/unfreeze per `policy`; for `lora` return the PEFT-wrapped model."""
    if policy == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    if policy == "attention":
        for p in model.parameters():
            p.requires_grad_(False)
        for layer in attention_projections(model).values():
            for p in layer.parameters():
                p.requires_grad_(True)
        return model
    if policy == "lora":
        from peft import LoraConfig, get_peft_model

        targets = list(lora.target_modules) if lora and lora.target_modules else attention_projection_names(model)
        linear = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear)}
        unknown = [t for t in targets if t not in linear]
        if unknown:   # peft would fail deep inside with a traceback; say which names this model has
            raise ConfigError(f"lora.target_modules: {', '.join(unknown)} is not a linear layer of "
                              f"{type(model).__name__}; its linear layers: {', '.join(sorted(linear))}")
        config = LoraConfig(r=lora.r if lora else 16, lora_alpha=lora.alpha if lora else 32,
                            lora_dropout=lora.dropout if lora else 0.0, target_modules=targets,
                            bias="none", task_type="CAUSAL_LM")
        return get_peft_model(model, config)
    raise ValueError(f"unknown parameter policy {policy!r}; choose attention, lora or full")


def describe(model: nn.Module, policy: str) -> str:
    trainable, total = count_parameters(model)
    return f"trainable parameters ({policy}): {trainable:,} of {total:,} ({100 * trainable / max(total, 1):.2f}%)"

"""Token-level loss map of the answer (paper Fig. 4): each target token coloured by its loss, green -> red.

Every sample is scored twice, with and without the answer template in the prompt, and drawn side by side.
The paper's point is that without the template the model spends its loss on the *format* of the answer;
the summary separates mean loss on format tokens from value tokens (the gold key, value and dictionary
digits, located with the sample's meta by needlework.tasks.gold_spans). Output: loss_map.html (self-contained),
loss_map.png, loss_map.json; the drawing is loss_map_render.py, and the report only shows these files.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from ..io import atomic_open, write_json
from ..tasks.gold_spans import answer_tokens, gold_strings
from ..train.batches import read_rows
from ..train.masking import encode
from .loss_map_render import render_html, render_png


@dataclass
class LossMapConfig:
    model: str = field(default="smollm2-135m-instruct", metadata={
        "help": "The model whose per-token loss is drawn: HF name, local folder or bundled model name."})
    data: str = field(default="", metadata={"help": "Training-format JSONL file whose samples are rendered."})
    out: str = field(default="runs/loss_map", metadata={"help": "Output folder (loss_map.json and .png)."})
    n: int = field(default=3, metadata={"help": "Samples rendered."})
    template: str = field(default="auto", metadata={
        "help": "Prompt rendering: auto | chat | plain (auto: the chat template when the tokenizer has one)."})
    max_length: int = field(default=8192, metadata={"help": "Token limit of a sample; a longer one is an error."})
    precision: Literal["auto", "bf16", "fp32"] = field(default="auto", metadata={
        "help": "auto | bf16 | fp32 (auto: bf16 autocast where the device runs it natively; "
                "needlework.precision.resolve; in a run: the run's)."})
    device: str = field(default="auto", metadata={
        "help": "auto | cpu | cuda (auto: a GPU where there is one; in a run: the run's)."})

    RENAMED: ClassVar[dict[str, str]] = {"bf16": "precision (auto | bf16 | fp32)"}

    def identity(self) -> dict:
        """What decides the map (not where it is written)."""
        return {k: v for k, v in vars(self).items() if k != "out"}

    def validate(self) -> None:
        from ..config import ConfigError
        if not self.data:
            raise ConfigError("data: give a JSONL file of samples")
        if self.n < 1:
            raise ConfigError(f"n must be >= 1, got {self.n}")
        from ..config import refuse_overlap
        refuse_overlap("out", self.out, {"model": self.model, "data": self.data})


def prompt_variants(prompt: str, meta: dict) -> dict[str, str]:
    """{'with template': ..., 'without template': ...} as far as they can be derived from this prompt."""
    from ..tasks.kv.common import TEMPLATE_INTRO
    if TEMPLATE_INTRO in prompt:
        return {"with template": prompt, "without template": prompt.split(TEMPLATE_INTRO)[0]}
    out = {"without template": prompt}
    if meta.get("task", "simple_kv") == "simple_kv" and "gold_key" in meta:
        from ..tasks.kv.simple_kv import TEMPLATE
        out = {"with template": prompt + TEMPLATE_INTRO + TEMPLATE.format(key=meta["gold_key"]), **out}
    return out


def score(model, tokenizer, system, prompt, answer, meta, template, max_length) -> list[dict]:
    """[{text, loss, value}] for each answer token."""
    from ..train.loss import token_losses
    enc = encode(tokenizer, prompt, answer, system, template=template, max_length=max_length)
    losses = token_losses(model, enc.input_ids, enc.labels)
    return [{"text": text, "loss": losses[i], "value": value}
            for i, text, value in answer_tokens(tokenizer, enc, answer, meta)]


def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 4) if xs else None


def _rows_with_gold(cfg: LossMapConfig) -> list[dict]:
    """The first n rows whose meta names a gold value: without it every token would count as a format token."""
    from ..config import ConfigError
    rows = read_rows([cfg.data])[:cfg.n]
    kept = [r for r in rows if gold_strings(r["meta"] or {}, "value")]
    if not kept:
        raise ConfigError(f"data: {cfg.data}: no row's meta names its gold value, so value tokens cannot be told "
                          "from format tokens; give a file written by `needlework generate`")
    if len(kept) < len(rows):
        print(f"needlework loss-map: skipped {len(rows) - len(kept)} of {len(rows)} rows whose meta names no gold "
              "value", file=sys.stderr)
    return kept


def build_loss_map(cfg: LossMapConfig, context=None) -> dict:
    """`context`: the run's precision.RunContext; None (`needlework loss-map`): resolved here, once."""
    import torch
    from ..models import load_model
    if context is None:
        from ..precision import resolve_context
        context = resolve_context(cfg.precision, cfg.device, log=print)
    context.apply()
    precision = context.precision
    model, tokenizer = load_model(cfg.model)
    model = model.to(precision.device).eval()
    rows = _rows_with_gold(cfg)
    samples = []
    with torch.autocast(precision.device.split(":")[0], dtype=torch.bfloat16, enabled=precision.bf16):
        for r in rows:
            variants = {name: score(model, tokenizer, r["system"], p, r["answer"], r["meta"], cfg.template,
                                    cfg.max_length) for name, p in prompt_variants(r["prompt"], r["meta"]).items()}
            samples.append({"where": r["where"], "variants": variants})
    summary = {}
    for name in ("with template", "without template"):
        toks = [t for s in samples for t in s["variants"].get(name, [])]
        if toks:
            summary[name] = {"mean_loss": _mean([t["loss"] for t in toks]),
                             "format_tokens_mean_loss": _mean([t["loss"] for t in toks if not t["value"]]),
                             "value_tokens_mean_loss": _mean([t["loss"] for t in toks if t["value"]]),
                             "tokens": len(toks)}
    out = Path(cfg.out)
    vmax = max([t["loss"] for s in samples for v in s["variants"].values() for t in v] + [1.0])
    with atomic_open(out / "loss_map.html") as f:
        f.write(render_html(samples, summary, vmax, cfg.model))
    render_png(samples, vmax, out / "loss_map.png", title=f"answer-token loss: {cfg.model}")
    result = {"model": cfg.model, "data": cfg.data, "samples": len(samples), "summary": summary,
              "precision": precision.as_dict(),
              "html": str(out / "loss_map.html"), "png": str(out / "loss_map.png")}
    write_json(out / "loss_map.json", {**result, "tokens": samples})
    return result

"""`needlework heads`: retrieval score of every layer x head on a few samples of a data file, for one model
or before/after (a second model on the same samples), written as heads.json + heatmap PNGs.

The computation is retrieval_heads.py; this module picks the samples, runs it per model, ranks heads and
draws the maps (`heads_heatmap`). The report only shows what it wrote
(report/build.head_map_blocks).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..config import ConfigError, refuse_overlap
from ..io import write_json
from ..plotting import ACCURACY_CMAP, DIFFERENCE_CMAP, png_bytes, pyplot, write_png


@dataclass
class HeadMapsConfig:
    model: str = field(default="smollm2-135m-instruct", metadata={
        "help": "The model whose attention heads are scored: HF name, local folder or bundled model name."})
    data: str = field(default="", metadata={"help": "Training-format JSONL file of key-value samples to score."})
    n: int = field(default=8, metadata={"help": "Samples scored (the file's first n)."})
    out: str = field(default="runs/heads", metadata={"help": "Output folder (heads.json and .png)."})
    compare: str = field(default="", metadata={
        "help": "A second model scored on the same samples (e.g. the fine-tuned one) for a change map; \"\": none."})
    top: int = field(default=10, metadata={"help": "Heads listed (highest score; largest change)."})
    template: str = field(default="auto", metadata={
        "help": "Prompt rendering: auto | chat | plain, as in training and the loss map."})
    max_length: int = field(default=8192, metadata={"help": "Token limit of a sample; a longer one is an error."})
    precision: Literal["auto", "bf16", "fp32"] = field(default="fp32", metadata={
        "help": "auto | bf16 | fp32, fp32 by default (in a run too): a head's score is an argmax over attention "
                "weights, and bf16 rounding can flip near-ties."})
    device: str = field(default="auto", metadata={
        "help": "auto | cpu | cuda (auto: a GPU where there is one; in a run: the run's)."})

    def validate(self) -> None:
        if not self.data:
            raise ConfigError("data: give a JSONL file of samples (e.g. one written by `needlework generate`)")
        if self.n < 1:
            raise ConfigError(f"n must be >= 1, got {self.n}")
        if self.top < 1:
            raise ConfigError(f"top must be >= 1, got {self.top}")
        if self.template not in ("auto", "chat", "plain"):
            raise ConfigError(f"template must be auto, chat or plain, not {self.template!r}")
        refuse_overlap("out", self.out, {"model": self.model, "compare": self.compare, "data": self.data})


def top_heads(scores: list[list[float]], k: int) -> list[dict]:
    """The k highest-scoring heads, best first (ties: lower layer, then lower head, first)."""
    cells = [(s, layer, head) for layer, row in enumerate(scores) for head, s in enumerate(row)]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [{"layer": layer, "head": head, "score": s} for s, layer, head in cells[:k]]


def score_change(before: list[list[float]], after: list[list[float]]) -> list[list[float]]:
    if len(before) != len(after) or any(len(a) != len(b) for a, b in zip(before, after)):
        raise ConfigError(f"compare: the two models have different layer x head shapes "
                          f"({len(before)} x {len(before[0])} vs {len(after)} x {len(after[0])})")
    return [[round(a - b, 4) for a, b in zip(ra, rb)] for ra, rb in zip(after, before)]


def changed_heads(before: list[list[float]], after: list[list[float]], k: int) -> list[dict]:
    """The k heads whose score changed most (by absolute change), largest first."""
    change = score_change(before, after)
    cells = [(abs(c), layer, head) for layer, row in enumerate(change) for head, c in enumerate(row)]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [{"layer": layer, "head": head, "before": before[layer][head], "after": after[layer][head],
             "change": change[layer][head]} for _, layer, head in cells[:k]]


def _score_model(name: str, rows: list[dict], cfg: HeadMapsConfig, precision) -> dict:
    from .retrieval_heads import load_eager, retrieval_scores
    t0 = time.perf_counter()
    model, tokenizer = load_eager(name, precision)
    result = retrieval_scores(model, tokenizer, rows, template=cfg.template, max_length=cfg.max_length)
    if not result["steps"]:
        raise ConfigError(f"data: no sample of {cfg.data} has a gold value the model's answer copies from the "
                          f"prompt ({'; '.join(result['skipped'][:3])})")
    cfg_m = model.config
    return {"model": name, "layers": cfg_m.num_hidden_layers, "heads": cfg_m.num_attention_heads, **result,
            "top": top_heads(result["scores"], cfg.top), "seconds": round(time.perf_counter() - t0, 1)}


def short_name(model: str, width: int = 44) -> str:
    """A model name that fits a plot title: a folder's last two parts (a run's ".../<stage>/model")."""
    parts = Path(model).parts
    name = "/".join(parts[-2:]) if len(parts) > 2 else model
    return name if len(name) <= width else "..." + name[-(width - 3):]


def heads_heatmap(scores: list[list[float]], title: str, *, change: bool = False) -> bytes:
    """scores[layer][head]; change=True draws a difference map (house colours: blue = higher after, red = lower)."""
    import numpy as np
    plt = pyplot()
    a = np.asarray(scores, dtype=float)
    layers, heads = a.shape
    if change:
        lim = max(float(np.abs(a).max()), 1e-6)
        kw = {"cmap": DIFFERENCE_CMAP, "vmin": -lim, "vmax": lim}
    else:
        kw = {"cmap": ACCURACY_CMAP, "vmin": 0.0, "vmax": max(float(a.max()), 1e-6)}
    fig, ax = plt.subplots(figsize=(1.6 + 0.42 * heads, 1.4 + 0.2 * layers))
    im = ax.imshow(a, aspect="auto", interpolation="nearest", **kw)
    ax.set_xticks(range(heads), [str(h) for h in range(heads)], fontsize=7)
    step = 1 if layers <= 16 else 2            # every other layer label on deep models keeps them legible
    ax.set_yticks(range(0, layers, step), [str(i) for i in range(0, layers, step)], fontsize=7)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.08, pad=0.03,
                 label="change in retrieval score" if change else "retrieval score")
    fig.tight_layout()
    return png_bytes(fig)


def build_head_maps(cfg: HeadMapsConfig, context=None) -> dict:
    """Score cfg.model (and cfg.compare) on the first cfg.n samples of cfg.data; write heads.json,
    heads.png and, with compare, heads_compare.png and heads_change.png into cfg.out. Returns heads.json.
    `context`: the run's precision.RunContext (its device, and its precision where cfg.precision agrees);
    None (`needlework heads`): resolved here, once."""
    from ..provenance import provenance
    from ..train.batches import read_rows
    if context is None:
        from ..precision import resolve_context
        context = resolve_context(cfg.precision, cfg.device)
    context.apply()
    precision = context.precision_for(cfg.precision)   # once, for both models: one dtype and device for the pair
    rows = read_rows([cfg.data])[:cfg.n]
    out = Path(cfg.out)
    t0 = time.perf_counter()
    result: dict[str, Any] = {"data": cfg.data, "n": cfg.n, **_score_model(cfg.model, rows, cfg, precision)}
    before, after_name = short_name(cfg.model), short_name(cfg.compare)
    pngs = {"heads.png": heads_heatmap(result["scores"], f"retrieval score: {before}\n"
                                       f"({result['samples']} samples, {result['steps']} answer tokens)")}
    if cfg.compare:
        after = _score_model(cfg.compare, rows, cfg, precision)
        result["compare"] = after
        result["change"] = score_change(result["scores"], after["scores"])
        result["changed"] = changed_heads(result["scores"], after["scores"], cfg.top)
        pngs["heads_compare.png"] = heads_heatmap(after["scores"], f"retrieval score: {after_name}\n"
                                                  f"({after['samples']} samples, {after['steps']} answer tokens)")
        pngs["heads_change.png"] = heads_heatmap(result["change"], f"change in retrieval score\n{after_name}\n"
                                                 f"minus {before}", change=True)
    for name, png in pngs.items():
        write_png(out / name, png)
    result["pngs"] = list(pngs)                # before, after, change: the order the report shows them
    result["wall_seconds"] = round(time.perf_counter() - t0, 1)
    result["precision"] = precision.as_dict()
    result["provenance"] = provenance(cfg)
    write_json(out / "heads.json", result)
    return result

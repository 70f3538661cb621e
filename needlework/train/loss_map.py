"""Token-level loss map of the answer (paper Fig. 4): each target token coloured by its loss, green -> red.

Every sample is scored twice, with and without the answer template in the prompt, and drawn side by side.
The paper's point is that without the template the model spends its loss on the *format* of the answer;
the summary separates mean loss on format tokens from value tokens (the gold key, value and dictionary
digits, located with the sample's meta). Output: loss_map.html (self-contained), loss_map.png, loss_map.json.
"""
from __future__ import annotations

import html
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..io import atomic_open, write_json
from .batches import read_rows
from .masking import encode
from .loss_map_png import colour, render_png


@dataclass
class LossMapConfig:
    model: str = "smollm2-135m-instruct"
    data: str = ""
    out: str = "runs/loss_map"
    n: int = 3                       # samples to render
    template: str = "auto"           # chat template: auto | chat | plain (the answer template is the variant)
    max_length: int = 8192
    bf16: bool | Literal["auto"] = "auto"   # autocast where native and measured faster (needlework.precision)

    def identity(self) -> dict:
        """What decides the map (not where it is written)."""
        return {k: v for k, v in vars(self).items() if k != "out"}

    def validate(self) -> None:
        from ..config import ConfigError
        if not self.data:
            raise ConfigError("data: give a JSONL file of samples")
        if self.n < 1:
            raise ConfigError(f"n must be >= 1, got {self.n}")


def prompt_variants(prompt: str, meta: dict) -> dict[str, str]:
    """{'with template': ..., 'without template': ...} as far as they can be derived from this prompt."""
    from ..tasks.kv_common import TEMPLATE_INTRO
    if TEMPLATE_INTRO in prompt:
        return {"with template": prompt, "without template": prompt.split(TEMPLATE_INTRO)[0]}
    out = {"without template": prompt}
    if meta.get("task", "simple_kv") == "simple_kv" and "gold_key" in meta:
        from ..tasks.simple_kv import TEMPLATE
        out = {"with template": prompt + TEMPLATE_INTRO + TEMPLATE.format(key=meta["gold_key"]), **out}
    return out


def gold_strings(meta: dict, what: str) -> list[str]:
    """meta's gold `what` (key, value, dict) as strings, from `gold_<what>` or a task's list `gold_<what>s`
    (formatted_kv asks several keys at once and may give a key several values), flattened."""
    out: list[str] = []

    def add(v) -> None:
        if isinstance(v, (list, tuple)):
            for x in v:
                add(x)
        elif v is not None:
            out.append(str(v))
    add(meta.get(f"gold_{what}"))
    add(meta.get(f"gold_{what}s"))
    return out


def value_spans(answer: str, meta: dict) -> list[tuple[int, int]]:
    """Character spans of the gold key, value and dictionary number inside the answer."""
    spans = []
    for what in ("key", "value", "dict"):
        for s in gold_strings(meta, what):
            spans += [m.span() for m in re.finditer(rf"(?<!\d){re.escape(s)}(?!\d)", answer)]
    return spans


def answer_tokens(tokenizer, enc, answer: str, meta: dict) -> list[tuple[int, str, bool]]:
    """(position, text, is value) for each answer token: its text is what decoding adds at that token, and it
    is a value token when that text overlaps a gold key/value/dictionary span of `meta`."""
    spans, out, prev = value_spans(answer, meta), [], ""
    for i in range(enc.answer_start, enc.answer_end):
        text = tokenizer.decode(enc.input_ids[enc.answer_start:i + 1])
        a, b = len(prev), len(text)
        out.append((i, text[a:], any(a < e and s < b for s, e in spans)))
        prev = text
    return out


def score(model, tokenizer, system, prompt, answer, meta, template, max_length) -> list[dict]:
    """[{text, loss, value}] for each answer token."""
    from .loss import token_losses
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


def build_loss_map(cfg: LossMapConfig) -> dict:
    import torch
    from ..models import load_model
    from ..precision import choose
    device = "cuda" if torch.cuda.is_available() else "cpu"
    precision = choose(cfg.bf16, device, log=print)
    model, tokenizer = load_model(cfg.model)
    model = model.to(device).eval()
    rows = _rows_with_gold(cfg)
    samples = []
    with torch.autocast(device, dtype=torch.bfloat16, enabled=precision.bf16):
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


def render_html(samples: list[dict], summary: dict, vmax: float, model: str) -> str:
    rows = []
    for s in samples:
        cells = []
        for name in ("with template", "without template"):
            toks = s["variants"].get(name)
            body = "".join(
                f'<span class="t{" v" if t["value"] else ""}" style="background:{colour(t["loss"], vmax)}" '
                f'title="{t["loss"]:.3f}">{html.escape(t["text"])}</span>' for t in toks) if toks else "<i>n/a</i>"
            cells.append(f"<td>{body}</td>")
        rows.append(f"<tr><th>{html.escape(s['where'])}</th>{''.join(cells)}</tr>")
    summ = "".join(f"<tr><td>{html.escape(k)}</td><td>{v['format_tokens_mean_loss']}</td>"
                   f"<td>{v['value_tokens_mean_loss']}</td><td>{v['mean_loss']}</td></tr>" for k, v in summary.items())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>loss map: {html.escape(model)}</title>
<style>body{{font-family:sans-serif;margin:1.5em}} td,th{{border:1px solid #ccc;padding:.4em;vertical-align:top}}
table{{border-collapse:collapse}} .t{{font-family:monospace;white-space:pre;padding:1px 0}} .v{{font-weight:bold;
text-decoration:underline}}</style></head><body><h2>Answer-token loss: {html.escape(model)}</h2>
<p>Green = low loss, red = high (scale 0 to {vmax:.2f}); bold underlined = value tokens (gold key, value,
dictionary). Hover a token for its loss.</p>
<table><tr><th>variant</th><th>format tokens</th><th>value tokens</th><th>all</th></tr>{summ}</table><br>
<table><tr><th>sample</th><th>with answer template</th><th>without answer template</th></tr>{''.join(rows)}</table>
</body></html>
"""

"""Retrieval score of every attention head (Wu et al. 2024, "Retrieval Head Mechanistically Explains
Long-Context Factuality"): how often a head, while the model produces the answer, puts its strongest
attention on the needle's copy of the token being produced.

Teacher-forced on the gold answer: the token at answer position p is produced by the query at p - 1
(exactly what Wu et al.'s decoding loop inspects: the attention of the last input token, compared with the
token it predicts). A step counts when the answer token lies in the gold value and its id occurs in the
needle (the gold value's tokens in the prompt); a head hits at that step when the argmax of its attention
over the context (the prompt's tokens) is a needle position holding that same token id.
score = hits / counted steps, summed over samples (every sample's steps weigh the same).

Attention comes from eager attention (the only implementation that materialises the weights): a forward
hook on each layer's self-attention keeps only the rows of the scored queries over the prompt's columns,
so memory is layers x heads x steps x prompt, not layers x heads x sequence^2.

Lives in `probes` beside the loss map: both teacher-force samples through the trainer's encoder
(`train.masking.encode`) and find the gold value with `tasks.gold_spans`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..tasks.gold_spans import gold_values, near_key, value_spans
from ..train.masking import encode


def head_hits(attn: torch.Tensor, context_ids: torch.Tensor, targets: torch.Tensor,
              needle: torch.Tensor) -> torch.Tensor:
    """Hits per head: attn [layers, heads, steps, context] (each step's attention over the context),
    context_ids [context], targets [steps] (the token produced at each step), needle [context] bool.
    A step hits when its argmax position is in the needle and holds the produced token."""
    j = attn.argmax(dim=-1)                                   # [layers, heads, steps]
    hit = needle[j] & (context_ids[j] == targets.view(1, 1, -1))
    return hit.sum(dim=-1)


def token_char_spans(tokenizer, ids: list[int]) -> list[tuple[int, int]]:
    """Character span of each token in the concatenation of the tokens' own decodings. Exact for ASCII text;
    a multi-byte character split across tokens shifts only the spans around it (values are ASCII)."""
    spans, at = [], 0
    for i in ids:
        n = len(tokenizer.decode([i]))
        spans.append((at, at + n))
        at += n
    return spans


def _overlapping(spans: list[tuple[int, int]], lo: int, hi: int, targets: list[tuple[int, int]]) -> list[int]:
    """Token positions in [lo, hi) whose character span overlaps one of `targets`."""
    return [p for p in range(lo, hi) if any(spans[p][0] < e and s < spans[p][1] for s, e in targets)]


@dataclass
class Steps:
    """One teacher-forced sample: the scored answer positions and the needle's token positions."""
    input_ids: list[int]
    context: int                                    # prompt length: attention columns [0, context)
    positions: list[int] = field(default_factory=list)   # answer positions p of counted steps
    needle: list[int] = field(default_factory=list)      # needle token positions in the prompt
    skipped: str | None = None                      # why no step counts (value not found in prompt, ...)


def answer_steps(tokenizer, system: str | None, prompt: str, answer: str, meta: dict, *, template: str = "auto",
                 max_length: int | None = None, where: str = "sample") -> Steps:
    enc = encode(tokenizer, prompt, answer, system, template=template, max_length=max_length, where=where)
    ids, n = enc.input_ids, enc.answer_start
    spans = token_char_spans(tokenizer, ids)
    text = "".join(tokenizer.decode([i]) for i in ids)
    ctx_end, ans_lo, ans_hi = spans[n - 1][1], spans[n][0], spans[enc.answer_end - 1][1]
    needle_chars, answer_chars = [], []
    for v in gold_values(answer, meta):
        meta_v = {"gold_value": v}
        needle_chars += near_key(text, value_spans(text[:ctx_end], meta_v), meta.get("gold_key"))
        answer_chars += [(s + ans_lo, e + ans_lo) for s, e in value_spans(text[ans_lo:ans_hi], meta_v)]
    steps = Steps(ids, n, needle=_overlapping(spans, 0, n, needle_chars))
    if not steps.needle:
        steps.skipped = f"{where}: gold value not found in the prompt"
        return steps
    needle_ids = {ids[p] for p in steps.needle}
    steps.positions = [p for p in _overlapping(spans, n, enc.answer_end, answer_chars) if ids[p] in needle_ids]
    if not steps.positions:
        steps.skipped = f"{where}: no answer token of the gold value occurs in the needle"
    return steps


def sample_hits(model, steps: Steps) -> torch.Tensor:
    """Hits per [layer, head] for one sample (one forward pass, eager attention)."""
    layers = model.model.layers
    queries = torch.tensor([p - 1 for p in steps.positions])
    rows: list[torch.Tensor | None] = [None] * len(layers)

    def keep(i):
        def hook(_module, _args, output):
            weights = output[1]
            if weights is None:
                raise RuntimeError("attention weights not returned: load the model with attn_implementation='eager'")
            rows[i] = weights[0, :, queries, :steps.context].float()   # [heads, steps, context]
        return hook

    handles = [layer.self_attn.register_forward_hook(keep(i)) for i, layer in enumerate(layers)]
    try:
        device = next(model.parameters()).device
        with torch.no_grad():
            model.model(input_ids=torch.tensor([steps.input_ids], device=device), use_cache=False)
    finally:
        for h in handles:
            h.remove()
    ids = torch.tensor(steps.input_ids)
    needle = torch.zeros(steps.context, dtype=torch.bool)
    needle[steps.needle] = True
    return head_hits(torch.stack(rows).cpu(), ids[:steps.context], ids[steps.positions], needle)


def retrieval_scores(model, tokenizer, rows: list[dict], *, template: str = "auto",
                     max_length: int | None = None) -> dict:
    """{'scores': [layer][head], 'hits': [layer][head], 'steps': counted steps, 'samples': scored samples,
    'skipped': [reasons]} over `rows` ({system, prompt, answer, meta, where})."""
    cfg = model.config
    total = torch.zeros(cfg.num_hidden_layers, cfg.num_attention_heads, dtype=torch.long)
    n_steps, scored, skipped = 0, 0, []
    for k, r in enumerate(rows):
        steps = answer_steps(tokenizer, r.get("system"), r["prompt"], r["answer"], r.get("meta") or {},
                             template=template, max_length=max_length, where=r.get("where", f"sample {k}"))
        if steps.skipped:
            skipped.append(steps.skipped)
            continue
        total += sample_hits(model, steps)
        n_steps += len(steps.positions)
        scored += 1
    scores = (total.double() / n_steps).tolist() if n_steps else total.double().tolist()
    return {"scores": [[round(s, 4) for s in layer] for layer in scores], "hits": total.tolist(),
            "steps": n_steps, "samples": scored, "skipped": skipped}


def load_eager(name_or_path: str, precision):
    """(model, tokenizer) with eager attention (the weights must be readable), in the dtype and on the device
    of `precision` (a needlework.precision.Precision: head maps default to fp32, see head_maps.HeadMapsConfig)."""
    from ..models import load_causal_lm, load_tokenizer, resolve_model_path
    path = resolve_model_path(name_or_path)
    model = load_causal_lm(path, precision.torch_dtype, attn_implementation="eager")
    return model.to(precision.device).eval(), load_tokenizer(path)

"""Continuous batching for the hf backend: finished rows stop costing compute, waiting prompts take their place.

Why (benchmarks/bench_eval.py on the cpu-demo's evaluation: SmolLM2-135M, fp32, 2 CPU cores): the static
path spends ~28% of its time decoding, in batches that decode until their longest row ends while SmolLM2's
answers end anywhere between 2 and 32 tokens, and it prefills every prompt in full although ~18% of the
prompt tokens repeat a prefix of another prompt. Here (1.45x the static path, 1.06x a bare batched prefill):

- Up to `batch_size` rows decode together over one preallocated cache (`_SlotCache`: row r's tokens at
  [0, n_r) of slot r; a forward writes each row's new tokens from n_r on, in place, no concatenation), with
  explicit position ids and a per-row causal mask, so rows of different lengths need no alignment.
- A row leaves the batch the step it ends (EOS, stop string on the decoded tail, max_new_tokens), the
  last row moves into its slot, and once a quarter of the slots are free the next waiting prompts are
  prefilled together into them (one forward for several prompts: on a busy 2-core machine every forward
  pays a fixed price in thread synchronisation, so fewer, larger forwards win).
- Prompts are taken in lexicographic token order, and each reuses the keys/values of the longest prefix it
  shares with a recently prefilled prompt (chat template, instructions, and the dictionaries/documents that
  precede the moved gold one: 18% of the cpu-demo's prompt tokens). A token's keys/values depend only on
  the tokens before it, so this is exact. A prompt whose best source is prefilled in the same refill goes
  into a second forward after it.

Greedy results equal the static path's: the same model, positions and attended tokens; the completion is
cut by the same code (HFBackend._completion). Only float summation order can differ (different matrix
shapes), as it already does between the static path's batch sizes; on the cpu-demo evaluation no completion
differs (145 of 145 equal).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from .base import Completion, Request


def supports_continuous(model) -> bool:
    """Decoder-only models whose every layer attends to the full context through sdpa or eager attention:
    the step mask built here is then exactly what the model needs (sliding-window layers would need their own)."""
    cfg = model.config
    cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    types = getattr(cfg, "layer_types", None)
    if types is not None:
        full = all(t == "full_attention" for t in types)
    else:
        full = not getattr(cfg, "sliding_window", None) or getattr(cfg, "use_sliding_window", True) is False
    return (full and not getattr(cfg, "is_encoder_decoder", False)
            and getattr(cfg, "_attn_implementation", None) in ("sdpa", "eager"))


class _SlotCache:
    """Keys/values of the decoding rows, one preallocated slot per row; the model sees it as its cache.

    `update` is what each attention layer calls: it writes the forward's keys/values of row r at positions
    start[r], start[r]+1, ... of slot lo+r and returns the first `width` positions of slots lo.. . The last
    position is never a real one (see ContinuousEngine.run), so padding queries write there harmlessly."""

    def __init__(self, n_layers: int, rows: int, length: int):
        self.n_layers, self.rows, self.length = n_layers, rows, length
        self.k: list = [None] * n_layers
        self.v: list = [None] * n_layers
        self.lo = self.hi = self.width = 0
        self.slot_idx = self.pos_idx = None

    def copy_prefix(self, dst: int, n: int, src: int | None = None, store=None) -> None:
        """Put n prefix positions into slot dst, from slot src or from a stored prompt (per-layer (k, v))."""
        import torch

        with torch.inference_mode():   # the buffers are inference tensors (made during a forward)
            for i in range(self.n_layers):
                k, v = (self.k[i][src], self.v[i][src]) if store is None else store[i]
                self.k[i][dst, :, :n] = k[:, :n]
                self.v[i][dst, :, :n] = v[:, :n]

    def keep(self, slot: int, n: int) -> list:
        """A copy of slot's first n positions (a prompt kept as a prefix source)."""
        import torch

        with torch.inference_mode():
            return [(self.k[i][slot, :, :n].clone(), self.v[i][slot, :, :n].clone()) for i in range(self.n_layers)]

    def move(self, src: int, dst: int, n: int) -> None:
        self.copy_prefix(dst, n, src=src)

    def begin(self, lo: int, start, q: int, width: int) -> None:
        """The next forward covers slots lo..lo+len(start)-1, q tokens each, written from start[r] on."""
        import torch

        m = len(start)
        self.lo, self.hi, self.width = lo, lo + m, width
        pos = (start[:, None] + torch.arange(q, device=start.device)[None, :]).clamp(max=self.length - 1)
        self.slot_idx = torch.arange(lo, lo + m, device=start.device)[:, None].expand(m, q)
        self.pos_idx = pos

    def update(self, key_states, value_states, layer_idx: int, *args, **kwargs):
        import torch

        if self.k[layer_idx] is None:
            shape = (self.rows, key_states.shape[1], self.length, key_states.shape[3])
            self.k[layer_idx] = torch.zeros(shape, dtype=key_states.dtype, device=key_states.device)
            self.v[layer_idx] = torch.zeros(shape, dtype=value_states.dtype, device=value_states.device)
        k, v = self.k[layer_idx], self.v[layer_idx]
        # [m, H, q, D] -> [m, q, H, D]: advanced indices (slot, position) come first in the indexed view
        k[self.slot_idx, :, self.pos_idx] = key_states.transpose(1, 2).to(k.dtype)
        v[self.slot_idx, :, self.pos_idx] = value_states.transpose(1, 2).to(v.dtype)
        return k[self.lo:self.hi, :, :self.width], v[self.lo:self.hi, :, :self.width]


@dataclass
class _Row:
    index: int                  # position in the caller's list
    prompt: list[int]
    request: Request
    gen: list[int] = field(default_factory=list)

    @property
    def cached(self) -> int:    # tokens whose keys/values are in the slot (the last generated one is not yet)
        return len(self.prompt) + len(self.gen) - 1


def _shared_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class ContinuousEngine:
    """Runs a list of tokenized requests for an HFBackend; yields (index, Completion) as rows finish."""

    KEEP = 4       # prompts kept as prefix sources after their refill (sorted order: the latest are the best)
    MIN_GAIN = 32  # tokens a prompt must share with a row of its own refill to wait for a second forward

    def __init__(self, backend):
        self.b = backend
        self.model = backend.model
        cfg = self.model.config
        cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
        self.n_layers = cfg.num_hidden_layers
        self.softcap = getattr(cfg, "final_logit_softcapping", None)
        self.bool_mask = getattr(cfg, "_attn_implementation", "sdpa") == "sdpa"
        # What the last run did (printed by benchmarks/bench_eval.py): prompt tokens computed and reused,
        # forwards, decode steps and the rows they carried.
        self.stats = {"prefill_tokens": 0, "reused_tokens": 0, "prefill_forwards": 0, "decode_steps": 0,
                      "decode_rows": 0}

    def run(self, requests: list[Request], ids: list[list[int]]) -> Iterator[tuple[int, Completion]]:
        import torch

        b = self.b
        waiting = sorted(range(len(requests)), key=lambda i: ids[i], reverse=True)  # pop() from the end
        rows: list[_Row] = []
        cap = max(1, min(b.batch_size, len(requests)))
        # +1: a position no row ever uses (a row's last generated token is never fed back), for padding writes
        length = max((len(x) + r.max_new_tokens for x, r in zip(ids, requests)), default=1) + 1
        cache = _SlotCache(self.n_layers, cap, length)
        gen = torch.Generator(device="cpu").manual_seed(b.seed)   # sampling (temperature > 0) only
        store: list[tuple[list[int], list]] = []                  # recent prompts and their keys/values
        while waiting or rows:
            if waiting and (cap - len(rows) >= max(1, cap // 4) or not rows):
                new = []
                while waiting and len(rows) + len(new) < cap:
                    i = waiting.pop()
                    if requests[i].max_new_tokens < 1:
                        yield i, Completion(text="", prompt_tokens=len(ids[i]), completion_tokens=0,
                                            finish_reason="length")
                        continue
                    new.append(_Row(i, ids[i], requests[i]))
                if not new:
                    continue
                rows.extend(self._admit(rows, new, cache, store, gen))
            else:
                for row, t in zip(rows, self._step(rows, cache, gen)):
                    row.gen.append(t)
            for slot in reversed(range(len(rows))):   # from the end, so moved rows are already checked
                row = rows[slot]
                if self._done(row):
                    yield row.index, self._finish(row)
                    last = rows.pop()
                    if slot < len(rows):                # the last row takes the freed slot
                        cache.move(len(rows), slot, last.cached)
                        rows[slot] = last

    # -- model calls ---------------------------------------------------------------------------
    def _admit(self, rows: list[_Row], new: list[_Row], cache: _SlotCache, store: list, gen) -> list[_Row]:
        """Prefill `new` (lexicographic order) into the slots after `rows`, each with its first token; returns
        them in slot order.

        A row reuses the longest prefix it shares with a kept prompt (stage 0), or, when that is much less
        than it shares with a stage-0 row of this refill, waits for a second forward (stage 1) after it.
        Each stage's rows take consecutive slots, longest suffix first, cut where padding would pass
        max_padding (as the static path cuts its batches)."""
        plan = []   # (stage, reused tokens, source row j or None, kept keys/values or None)
        for j, row in enumerate(new):
            best, src, kv, stage = 0, None, None, 0
            for prompt, kept in store:
                n = _shared_prefix(row.prompt, prompt)
                if n > best:
                    best, kv = n, kept
            gain = max(self.MIN_GAIN, len(row.prompt) // 4)   # a second forward must pay for itself
            for i in range(j):
                n = _shared_prefix(row.prompt, new[i].prompt)
                if plan[i][0] == 0 and n > best + gain:
                    best, src, kv, stage = n, i, None, 1
                    gain = 0
            plan.append((stage, min(best, len(row.prompt) - 1), src, kv))
        suffix = [len(r.prompt) - p[1] for r, p in zip(new, plan)]
        groups = []
        for stage in (0, 1):
            js = sorted((j for j in range(len(new)) if plan[j][0] == stage), key=lambda j: -suffix[j])
            groups += self.b._split(js, suffix) if js else []
        slot = {j: len(rows) + k for k, j in enumerate(j for g in groups for j in g)}
        for g in groups:
            for j in g:
                _, n, src, kv = plan[j]
                if n:
                    cache.copy_prefix(slot[j], n, src=None if src is None else slot[src], store=kv)
            firsts = self._forward_rows(slot[g[0]], [new[j] for j in g], [plan[j][1] for j in g], cache, gen)
            for j, t in zip(g, firsts):
                new[j].gen.append(t)
        for j in range(max(0, len(new) - self.KEEP), len(new)):   # the lexicographically last: the best sources
            store.append((new[j].prompt, cache.keep(slot[j], len(new[j].prompt))))
        del store[:-self.KEEP]
        return [new[j] for g in groups for j in g]

    def _forward_rows(self, lo: int, rows: list[_Row], starts: list[int], cache: _SlotCache, gen) -> list[int]:
        """One forward over prompts `rows` in slots lo.., each from its `starts` position on (the tokens
        before it are in the slot already); returns each one's first generated token."""
        import torch

        dev = self.b.device
        suffix = [r.prompt[s:] for r, s in zip(rows, starts)]
        q = max(map(len, suffix))
        x = torch.full((len(suffix), q), self.b.pad_id, dtype=torch.long)
        for k, toks in enumerate(suffix):
            x[k, :len(toks)] = torch.tensor(toks, dtype=torch.long)
        last = torch.tensor([len(t) - 1 for t in suffix], dtype=torch.long, device=dev)
        logits = self._forward(cache, lo, x.to(dev), torch.tensor(starts, dtype=torch.long, device=dev), last)
        self.stats["prefill_forwards"] += 1
        self.stats["prefill_tokens"] += sum(map(len, suffix))
        self.stats["reused_tokens"] += sum(starts)
        return self._pick(logits, [r.request for r in rows], gen)

    def _step(self, rows: list[_Row], cache: _SlotCache, gen) -> list[int]:
        import torch

        dev = self.b.device
        start = torch.tensor([r.cached for r in rows], dtype=torch.long, device=dev)
        x = torch.tensor([[r.gen[-1]] for r in rows], dtype=torch.long, device=dev)
        logits = self._forward(cache, 0, x, start, torch.zeros(len(rows), dtype=torch.long, device=dev))
        self.stats["decode_steps"] += 1
        self.stats["decode_rows"] += len(rows)
        return self._pick(logits, [r.request for r in rows], gen)

    def _forward(self, cache: _SlotCache, lo: int, x, start, last):
        """Logits at column `last[r]` of row r, after feeding x[r] at positions start[r].. of slot lo+r."""
        import torch

        dev = x.device
        q = x.shape[1]
        # padding queries (and no-op rows) go to the scratch position, never beyond the buffer
        pos = (start[:, None] + torch.arange(q, device=dev)[None, :]).clamp(max=cache.length - 1)   # [m, q]
        width = int(pos.max()) + 1
        mask = torch.arange(width, device=dev)[None, None, :] <= pos[:, :, None]      # [m, q, width]
        mask = mask[:, None]
        if not self.bool_mask:   # eager attention adds its mask
            mask = torch.zeros(mask.shape, device=dev).masked_fill(~mask, torch.finfo(torch.float32).min)
        cache.begin(lo, start, q, width)
        with self.b.compute_context():
            out = self.model(input_ids=x, attention_mask=mask, position_ids=pos,
                             past_key_values=cache, use_cache=True, logits_to_keep=last[:, None])
        return out.logits[:, 0]

    def _pick(self, logits, reqs: list[Request], gen) -> list[int]:
        """Greedy (argmax, as generate() does) or, for rows with temperature > 0, plain temperature sampling."""
        import torch

        logits = logits.float()
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        picked = logits.argmax(-1)
        for k, r in enumerate(reqs):
            if r.temperature > 0:
                probs = torch.softmax(logits[k] / r.temperature, -1).cpu()
                picked[k] = torch.multinomial(probs, 1, generator=gen)[0]
        return picked.tolist()

    # -- ending rows -----------------------------------------------------------------------------
    def _done(self, row: _Row) -> bool:
        if row.gen[-1] in self.b.eos_ids or len(row.gen) >= row.request.max_new_tokens:
            return True
        stops = [s for s in row.request.stop if s]
        if not stops:
            return False
        tail = 4 * max(len(s) for s in stops) + 4   # the same tail check as the static path's _StopOnStrings
        text = self.b.tokenizer.decode(row.gen[-tail:], skip_special_tokens=True)
        return any(s in text for s in stops)

    def _finish(self, row: _Row) -> Completion:
        return self.b._completion(row.gen, len(row.prompt), row.request)

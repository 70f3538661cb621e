"""Continuous batching for the hf backend: finished rows stop costing compute, waiting prompts take their place.

Why (benchmarks/bench_eval.py on the cpu-demo's evaluation: SmolLM2-135M, fp32, 2 CPU cores): the static
path spends ~28% of its time decoding, in batches that decode until their longest row ends while SmolLM2's
answers end anywhere between 2 and 32 tokens, and it prefills every prompt in full although ~18% of the
prompt tokens repeat a prefix of another prompt. Here (1.45x the static path, 1.06x a bare batched prefill,
measured with one batch-wide buffer before the per-row buffers of hf_row_cache.py; not re-measured since):

- Up to `batch_size` rows decode together, each over its own keys/values buffer sized to that row
  (hf_row_cache.py: a forward writes each row's new tokens from n_r on, in place, and each row attends over
  exactly its own positions, with its layers' sliding windows), with explicit position ids, so rows of
  different lengths need no alignment and a decode step no mask.
- A row leaves the batch the step it ends (EOS, stop string on the decoded tail, max_new_tokens), its
  buffer with it, and once a quarter of the slots are free the next waiting prompts are
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
from .hf_row_cache import RowCache, layer_windows, row_attention, text_config


def supports_continuous(model) -> bool:
    """Decoder-only models with sdpa or eager attention whose every layer attends to the full context or to a
    sliding window (hf_row_cache.layer_windows), without attention logit soft-capping."""
    cfg = text_config(model)
    return (layer_windows(cfg) is not None and not getattr(cfg, "is_encoder_decoder", False)
            and not getattr(cfg, "attn_logit_softcapping", None)
            and getattr(cfg, "_attn_implementation", None) in ("sdpa", "eager"))


@dataclass
class _Row:
    index: int                  # position in the caller's list
    prompt: list[int]
    request: Request
    gen: list[int] = field(default_factory=list)
    kv: list = field(default_factory=list)   # per layer (k, v) [H_kv, capacity, D], filled by RowCache
    prefix: tuple | None = None              # (n, another row's kv): positions [0, n) copied from there

    @property
    def capacity(self) -> int:  # every position the row can hold (its last generated token is never fed back)
        return len(self.prompt) + self.request.max_new_tokens

    @property
    def cached(self) -> int:    # tokens whose keys/values are in the buffer (the last generated one is not yet)
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
        cfg = text_config(self.model)
        self.windows = layer_windows(cfg)
        self.softcap = getattr(cfg, "final_logit_softcapping", None)
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
        cache = RowCache(self.windows)
        gen = torch.Generator(device="cpu").manual_seed(b.seed)   # sampling (temperature > 0) only
        store: list[tuple[list[int], list]] = []                  # recent prompts and their rows' kv
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
                    if slot < len(rows):                # the last row takes the freed place
                        rows[slot] = last

    # -- model calls ---------------------------------------------------------------------------
    def _admit(self, rows: list[_Row], new: list[_Row], cache: RowCache, store: list, gen) -> list[_Row]:
        """Prefill `new` (lexicographic order), each with its first token; returns them in batch order.

        A row reuses the longest prefix it shares with a kept prompt (stage 0), or, when that is much less
        than it shares with a stage-0 row of this refill, waits for a second forward (stage 1) after it.
        Each stage's rows run longest suffix first, cut where padding would pass max_padding (as the static
        path cuts its batches)."""
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
        for j, (_, n, src, kv) in enumerate(plan):
            # a stage-1 source's buffers are filled by the stage-0 forward before this row's forward reads them
            if n:
                new[j].prefix = (n, new[src].kv if src is not None else kv)
        for g in groups:
            firsts = self._forward_rows([new[j] for j in g], [plan[j][1] for j in g], cache, gen)
            for j, t in zip(g, firsts):
                new[j].gen.append(t)
        # The lexicographically last are the best sources. A row's positions [0, len(prompt)) are never
        # written again, so its buffers serve as the source as they are, without a copy.
        for j in range(max(0, len(new) - self.KEEP), len(new)):
            store.append((new[j].prompt, new[j].kv))
        del store[:-self.KEEP]
        return [new[j] for g in groups for j in g]

    def _forward_rows(self, rows: list[_Row], starts: list[int], cache: RowCache, gen) -> list[int]:
        """One forward over prompts `rows`, each from its `starts` position on (the tokens before it are in its
        buffer already, from its prefix source); returns each one's first generated token."""
        import torch

        dev = self.b.device
        suffix = [r.prompt[s:] for r, s in zip(rows, starts)]
        q = max(map(len, suffix))
        x = torch.full((len(suffix), q), self.b.pad_id, dtype=torch.long)
        for k, toks in enumerate(suffix):
            x[k, :len(toks)] = torch.tensor(toks, dtype=torch.long)
        lens = [len(t) for t in suffix]
        last = torch.tensor([n - 1 for n in lens], dtype=torch.long, device=dev)
        logits = self._forward(cache, rows, x.to(dev), starts, lens, last)
        self.stats["prefill_forwards"] += 1
        self.stats["prefill_tokens"] += sum(lens)
        self.stats["reused_tokens"] += sum(starts)
        return self._pick(logits, [r.request for r in rows], gen)

    def _step(self, rows: list[_Row], cache: RowCache, gen) -> list[int]:
        import torch

        dev = self.b.device
        x = torch.tensor([[r.gen[-1]] for r in rows], dtype=torch.long, device=dev)
        logits = self._forward(cache, rows, x, [r.cached for r in rows], [1] * len(rows),
                               torch.zeros(len(rows), dtype=torch.long, device=dev))
        self.stats["decode_steps"] += 1
        self.stats["decode_rows"] += len(rows)
        return self._pick(logits, [r.request for r in rows], gen)

    def _forward(self, cache: RowCache, rows: list[_Row], x, starts: list[int], lens: list[int], last):
        """Logits at column `last[r]` of row r, after feeding x[r] (lens[r] real tokens, then padding) at
        positions starts[r].. of its buffer. No attention mask goes in: RowCache.attend knows each row's."""
        import torch

        dev = x.device
        start = torch.tensor(starts, dtype=torch.long, device=dev)
        pos = start[:, None] + torch.arange(x.shape[1], device=dev)[None, :]   # [m, q]
        cache.begin(rows, starts, lens)
        with self.b.compute_context(), row_attention(self.model):
            out = self.model(input_ids=x, position_ids=pos, past_key_values=cache, use_cache=True,
                             logits_to_keep=last[:, None], needlework_rows=cache)
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

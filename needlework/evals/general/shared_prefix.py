"""Multiple-choice log-likelihoods with each context encoded once (lm-eval's `hf` model, prefix shared).

lm-eval's `hf` model scores every (context, choice) pair as its own sequence: a HellaSwag item's ~70-token
context is encoded four times, an ARC-Easy question four times for answers of a few tokens, and the vocabulary
projection and log-softmax run over every context position although only the choice's positions are read.
`needlework-hf` is lm-eval's `hf` model with one method replaced: requests that share a context (lm-eval's own
token encoding of it) are grouped, the context runs once with a KV cache (left-padded, projected at its last
position only), and the choices continue from that cache, each row attending to its own context. The
numbers are the same log-likelihoods (tests: against the one-sequence computation; on ARC-Easy, PIQA and
HellaSwag in fp32 every choice within 1e-4 of lm-eval's), computed on fewer tokens: 1.45x faster over the
cpu-demo's three tasks in fp32, 1.27x in bf16. Where sharing saves few tokens (PIQA: short goals, long
solutions) lm-eval's own path runs instead (`worth_sharing`). The log-softmax is taken in float32 (lm-eval's `softmax_dtype` where set): lm-eval's default
takes it in the model's dtype, whose bf16 rounding of log-probabilities could decide a near-tie.
Generation and rolling log-likelihood are lm-eval's own; requests longer than the model's window go to
lm-eval's path, which truncates them.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

Request = tuple[Any, list[int], list[int]]    # (cache key, context tokens, continuation tokens), lm-eval's shape


def _groups(requests: list[Request]) -> list[tuple[tuple[int, ...], list[int]]]:
    """(context tokens, indices of the requests continuing it), longest choices first, then longest contexts:
    the choices' pass holds most of the tokens (4 rows per HellaSwag context), so its padding is what to save
    (on the cpu-demo's tasks ordering by context instead padded 1.6x more tokens)."""
    by_ctx: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, (_, ctx, _) in enumerate(requests):
        by_ctx[tuple(ctx)].append(i)
    return sorted(by_ctx.items(), key=lambda g: (-max(len(requests[i][2]) for i in g[1]), -len(g[0]), g[0]))


def _batches(groups: list, rows: int) -> list[list]:
    """Consecutive groups whose continuations together fill at most `rows` rows (one group at least)."""
    out, cur, n = [], [], 0
    for g in groups:
        if cur and n + len(g[1]) > rows:
            out.append(cur)
            cur, n = [], 0
        cur.append(g)
        n += len(g[1])
    return out + ([cur] if cur else [])


# A token of the choices' pass (continuing a cache, under a padding mask) costs more than one of lm-eval's plain
# causal pass: on PIQA (short goals, long solutions) 0.96x lm-eval's padded tokens ran 0.91x as fast in bf16 and
# 1.08x in fp32; ARC-Easy at 0.51x ran 1.8-1.9x, HellaSwag at 0.68x 1.3-1.5x (benchmarks/bench_general.py)
WORTH_SHARING = 0.8


def padded_tokens(requests: list[Request], rows: int) -> tuple[int, int]:
    """Tokens computed, padding included, (shared prefix, lm-eval's one sequence per request) for `requests`
    in batches of `rows` rows: lm-eval sorts by total length, longest first."""
    shared = 0
    for batch in _batches(_groups(requests), max(1, rows)):
        idx = [i for _, g in batch for i in g]
        shared += max(len(c) for c, _ in batch) * len(batch) + (max(len(requests[i][2]) for i in idx) - 1) * len(idx)
    lengths = sorted((len(c) + len(k) - 1 for _, c, k in requests), reverse=True)
    single = sum(lengths[i] * len(lengths[i:i + rows]) for i in range(0, len(lengths), max(1, rows)))
    return shared, single


def worth_sharing(requests: list[Request], rows: int) -> bool:
    """Whether encoding each context once computes enough fewer tokens to be faster (WORTH_SHARING)."""
    shared, single = padded_tokens(requests, rows)
    return shared <= WORTH_SHARING * single


def _score_batch(model, batch: list, requests: list[Request], pad_id: int, device, softmax_dtype) -> dict:
    import torch
    import torch.nn.functional as F

    ctxs = [list(c) for c, _ in batch]
    lc = max(len(c) for c in ctxs)
    ids = torch.full((len(ctxs), lc), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ctxs), lc), dtype=torch.long)
    for r, c in enumerate(ctxs):          # left padding: every context ends at column lc - 1
        ids[r, lc - len(c):] = torch.tensor(c)
        mask[r, lc - len(c):] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos.to(device),
                use_cache=True, logits_to_keep=1)
    first = F.log_softmax(out.logits[:, -1, :], dim=-1, dtype=softmax_dtype)     # predicts each choice's 1st token

    rows = [(g, i) for g, (_, idx) in enumerate(batch) for i in idx]
    conts = [requests[i][2] for _, i in rows]
    lk = max(len(c) for c in conts) - 1    # a choice's last token is only predicted, never fed
    if lk > 0:
        sel = torch.tensor([g for g, _ in rows], device=device)
        cache = out.past_key_values
        cache.batch_select_indices(sel)     # each row continues its own group's context
        cids = torch.full((len(rows), lk), pad_id, dtype=torch.long)
        cmask = torch.zeros((len(rows), lk), dtype=torch.long)
        for r, c in enumerate(conts):
            cids[r, :len(c) - 1] = torch.tensor(c[:-1])
            cmask[r, :len(c) - 1] = 1
        full_mask = torch.cat([mask.to(device)[sel], cmask.to(device)], dim=1)
        cpos = torch.tensor([len(ctxs[g]) for g, _ in rows], device=device)[:, None] + torch.arange(lk, device=device)
        logits = model(input_ids=cids.to(device), attention_mask=full_mask, position_ids=cpos,
                       past_key_values=cache, use_cache=True).logits
        later = F.log_softmax(logits, dim=-1, dtype=softmax_dtype)
    results = {}
    for r, (g, i) in enumerate(rows):
        c = conts[r]
        dist = torch.cat([first[g:g + 1], later[r, :len(c) - 1]]) if len(c) > 1 else first[g:g + 1]
        tok = torch.tensor(c, device=dist.device)
        results[i] = (float(dist.gather(1, tok[:, None]).sum()), bool((dist.argmax(-1) == tok).all()))
    return results


def loglikelihoods(model, requests: list[Request], rows: int, pad_id: int, device="cpu",
                   softmax_dtype=None, progress=None) -> list[tuple[float, bool]]:
    """(sum of the continuation's log-probabilities, whether it is the greedy continuation) per request, in order."""
    import torch
    softmax_dtype = softmax_dtype or torch.float32
    out: dict[int, tuple[float, bool]] = {}
    with torch.inference_mode():
        for batch in _batches(_groups(requests), max(1, rows)):
            done = _score_batch(model, batch, requests, pad_id, device, softmax_dtype)
            out.update(done)
            if progress:
                progress(len(done))
    return [out[i] for i in range(len(requests))]


def register() -> str:
    """Register `needlework-hf` with lm-eval once; returns its name."""
    from lm_eval.api.registry import MODEL_REGISTRY, register_model
    from lm_eval.models.huggingface import HFLM

    name = "needlework-hf"
    if name in MODEL_REGISTRY:
        return name

    @register_model(name)
    class SharedPrefixHFLM(HFLM):
        """lm-eval's hf model, its causal log-likelihoods computed with each context encoded once."""

        def _loglikelihood_tokens(self, requests, disable_tqdm=False, override_bs=None):
            if self.backend != "causal":
                return super()._loglikelihood_tokens(requests, disable_tqdm, override_bs)
            bs = self.batch_size if isinstance(self.batch_size, int) else (override_bs or 16)
            fits = [i for i, (_, c, k) in enumerate(requests) if k and len(c) + len(k) <= self.max_length]
            if not worth_sharing([requests[i] for i in fits], bs):   # few shared tokens: lm-eval's own is faster
                return super()._loglikelihood_tokens(requests, disable_tqdm, override_bs)
            fit = set(fits)
            long = [i for i in range(len(requests)) if i not in fit]
            res: list = [None] * len(requests)
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            scored = loglikelihoods(self.model, [requests[i] for i in fits], bs, pad, self.device, self.softmax_dtype)
            for i, r in zip(fits, scored):
                res[i] = r
                if requests[i][0] is not None:   # lm-eval's request cache (its own path adds its own)
                    self.cache_hook.add_partial("loglikelihood", requests[i][0], r)
            if long:
                for i, r in zip(long, super()._loglikelihood_tokens([requests[i] for i in long], disable_tqdm,
                                                                     override_bs)):
                    res[i] = r
            return res

    return name

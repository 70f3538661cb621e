"""The companion measures of QA-style benchmarks: answer log-likelihoods beside exact match, never instead of it.

For every scored item of a benchmark with a `contrast` (evals/base.py), from the backend's log-likelihoods
(backends.base.ScoresLogLikelihood) of the gold answer and of each distractor passage's own answer:

- context_gain = log p(answer | with the gold passage) - log p(answer | without it), in nats: how much the gold
  passage raises the gold answer's likelihood. It does not say whether the model would generate that answer.
- preference = the share of distractor answers d with log p(answer | with) > log p(d | with) (a tie counts
  half): whether the model ranks the right passage's answer over a wrong one that also sits in the context, a
  retrieval specificity check with chance level 0.5. Items without distractor answers have none.

Both go into each sample's `scores` beside the primary metric (results.json's accuracies do not read them; its
`companion` block gives their means with intervals). Every log-likelihood is cached like a completion, in
`loglikelihoods.jsonl`, keyed on the request, the continuation and the model identity (not the item: MDQA's
prompt without the gold passage is one per question, at every gold position), so a re-run makes no model call.

`companion` (EvalConfig): auto (default) computes them where a benchmark has a contrast and the backend has
log-likelihoods (the hf backend; an OpenAI-compatible server has none here), and otherwise says so in
results.json and on stderr; true requires them (refused up front for a backend kind without); false skips them.
Their cost is a second prefill of each prompt and one of the prompt without the gold passage (the plan's
estimate counts both).
"""
from __future__ import annotations

import hashlib
import json
import statistics
import sys
from pathlib import Path

from ..backends.base import BackendError, ContextTooLong, Request, loglikelihood_missing
from .base import Benchmark, Contrast, Item
from .cache import CompletionCache, usable_loglikelihood

MEASURES = ("context_gain", "preference")
MEANING = {
    "context_gain": ("how much the gold passage raises the gold answer's log-likelihood (nats, with it minus "
                     "without it); not whether the model would generate that answer"),
    "preference": ("the share of wrong answers sitting in the context (each distractor passage's own answer) "
                   "that the model finds less likely than the gold answer: a retrieval specificity check, chance "
                   "0.5; not whether it generates either"),
}
LOGLIK_KINDS = ("hf",)    # backend kinds with log-likelihoods (backends.base.ScoresLogLikelihood)
CHUNK = 64                # pairs scored per call: a Ctrl-C loses at most one chunk


def loglik_key(request: Request, continuation: str, model: str) -> str:
    blob = json.dumps({"kind": "loglikelihood", "prompt": request.prompt, "messages": request.messages,
                       "continuation": continuation, "model": model}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def wanted(bench: Benchmark, mode: str | bool) -> bool:
    return mode is not False and bench.contrast is not None


def _pairs(c: Contrast) -> list[tuple[Request, str]]:
    return [(c.with_gold, c.answer), (c.without_gold, c.answer)] + [(c.with_gold, d) for d in c.distractor_answers]


def _fill(pairs: list[tuple[Request, str]], keys: list[str], cache: CompletionCache, backend) -> None:
    from tqdm import tqdm
    todo, seen = [], set()
    for i, k in enumerate(keys):   # each distinct pair once (MDQA's prompt without gold recurs per position)
        if k not in cache and k not in seen:
            seen.add(k)
            todo.append(i)
    bar = tqdm(total=len(todo), desc="companion: log-likelihoods", unit="pair", mininterval=2, disable=len(todo) < 2)
    for s in range(0, len(todo), CHUNK):
        send = todo[s:s + CHUNK]
        while send:
            try:
                values = backend.loglikelihood([pairs[i] for i in send])
            except ContextTooLong as e:   # recorded, never retried: the prompt does not fit with its answer
                bad = {send[j] for j in e.indices}
                if not bad:
                    raise
                for i in bad:
                    cache.put(keys[i], {"over_context": True})
                send = [i for i in send if i not in bad]
                continue
            for i, v in zip(send, values):
                cache.put(keys[i], {"ll": float(v)})
            bar.update(len(send))
            send = []
    bar.close()


def _measures(c: Contrast, lls: list[float | None]) -> dict[str, float]:
    if any(v is None for v in lls[:2]):
        return {}
    out = {"context_gain": round(lls[0] - lls[1], 6)}
    wrong = [v for v in lls[2:] if v is not None]
    if wrong and len(wrong) == len(c.distractor_answers):
        out["preference"] = round(statistics.fmean(1.0 if lls[0] > v else 0.5 if lls[0] == v else 0.0
                                                   for v in wrong), 6)
    return out


def add_measures(bench: Benchmark, settings, items: list[Item], rows: list[dict], mode: str | bool, out: Path,
                 ident: str, lazy, backend_kind: str) -> dict:
    """Writes context_gain and preference into the scores of `rows` (the runner's, one per item, same order);
    returns results.json's `companion` block (means with intervals, or why they were not computed)."""
    if not wanted(bench, mode):
        return {}
    contrasts = [None if r["over_context"] else bench.contrast(settings, it) for it, r in zip(items, rows)]
    pairs, keys, spans = [], [], []
    for c in contrasts:
        p = _pairs(c) if c is not None else []
        spans.append((len(pairs), len(p)))
        pairs += p
        keys += [loglik_key(r, t, ident) for r, t in p]
    if not pairs:
        return {}
    cache = CompletionCache(out / "loglikelihoods.jsonl", usable_loglikelihood)
    if any(k not in cache for k in keys):
        why = (loglikelihood_missing(lazy.get()) if backend_kind in LOGLIK_KINDS or lazy.name is not None
               else f"companion measures need a backend with log-likelihoods (backend kind {backend_kind} has none)")
        if why and mode is True:
            raise BackendError(f"{bench.name}: {why} (companion=true; companion=auto skips them with a note)")
        if why:
            print(f"NOTE {bench.name}: {why}; companion measures skipped (exact match is unaffected)", file=sys.stderr)
            return {"skipped": why}
        _fill(pairs, keys, cache, lazy.get())
    lls = [None if cache.get(k).get("over_context") else cache.get(k)["ll"] for k in keys]
    for c, r, (s, n) in zip(contrasts, rows, spans):
        if c is not None:
            r["scores"].update(_measures(c, lls[s:s + n]))
    return summary(rows)


def summary(rows: list[dict]) -> dict:
    """Per measure: mean over the items that have it, a 95% interval (bootstrap over items, clusters together),
    n, and what it measures."""
    from .paired import cluster_bootstrap
    out = {}
    for m in MEASURES:
        have = [r for r in rows if m in r["scores"]]
        if not have:
            continue
        vals = [r["scores"][m] for r in have]
        clusters = [r.get("cluster") or r["item_id"] for r in have]
        mean, lo, hi = cluster_bootstrap([0.0] * len(vals), [vals], clusters)
        out[m] = {"mean": round(mean, 6), "ci95": [round(lo, 6), round(hi, 6)], "n": len(vals),
                  "sd": round(statistics.stdev(vals), 6) if len(vals) > 1 else None, "measures": MEANING[m],
                  **({"chance": 0.5} if m == "preference" else {"unit": "nats"})}
    return out

"""`needlework eval`: build every selected benchmark's items, fetch completions through the cache, score.

Order of work: all benchmarks are built first (a missing data file or bad setting fails before any model
call), then misses are sent in batches; each completion is appended to `cache.jsonl` the moment its batch
returns. Scoring reads only the cache, so a re-run of a finished run needs no model at all and writes
byte-identical samples.jsonl and identical results (provenance timestamps aside).
Outputs in `out`: results.json, samples.jsonl, cache.jsonl, config.yaml.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from ..backends import make_backend, serving
from ..backends.base import Backend, BackendError
from ..config import ConfigError, to_yaml
from ..models import content_fingerprint, model_content
from ..io import atomic_open, folder_lock, write_json, write_jsonl
from ..provenance import config_hash, provenance, world_rank
from . import shards
from .aggregate import aggregate
from .cache import CompletionCache, prompt_hash, request_key
from .companion import add_measures
from .base import Benchmark, Item
from .eval_config import EvalConfig
from .registry import get_benchmark

OVER_CONTEXT_RULE = ("prompts whose tokens plus max_new_tokens exceed the model's context are not sent and not "
                     "scored; they are excluded from n and accuracy and reported per bucket as n_over_context")


def limit_per_bucket(items: list, limit: int | None) -> list:
    """The first `limit` items of each bucket, so a smoke run still shows every bucket."""
    if limit is None:
        return items
    seen: dict[str, int] = {}
    kept = []
    for it in items:
        seen[it.bucket] = seen.get(it.bucket, 0) + 1
        if seen[it.bucket] <= limit:
            kept.append(it)
    return kept

def model_identity(cfg: EvalConfig, fingerprint: dict | None = None) -> str:
    """What the cache keys on besides the request: the model, the content of its weights and tokenizer where
    they are on this machine (models.content_fingerprint: a folder retrained in place is a new model), and
    every backend setting that shapes outputs (not progress bars, concurrency or retries: changing those
    reuses the cache)."""
    return f"{cfg.model}#{config_hash({'backend': cfg.backend.identity(), 'content': fingerprint or {}})}"


class _LazyBackend:
    """Creates the backend only when some request is not cached (a finished run needs no model or server)."""

    def __init__(self, cfg: EvalConfig, backend: Backend | None, context=None):
        self.cfg, self._b, self.context = cfg, backend, context

    def get(self) -> Backend:
        if self._b is None:
            self._b = make_backend(self.cfg.backend, self.context)
        return self._b

    @property
    def name(self) -> str | None:
        return getattr(self._b, "name", None) if self._b is not None else None

    @property
    def served_models(self) -> list[str] | None:
        """The model names a server's replies carried (openai backend), once it exists."""
        names = getattr(self._b, "served_models", None) if self._b is not None else None
        return sorted(names) if names else None

    @property
    def precision(self) -> dict | None:
        """What the backend ran in (hf: dtype and why), once it exists."""
        return getattr(self._b, "precision", None) if self._b is not None else None


# A streaming backend's work unit, in batches: large enough that its batch stays full most of the time, small
# enough that Ctrl-C costs little (a unit cut short is sent again whole).
STREAM_UNIT_BATCHES = 8


def work_units(n_items: int, batch_size: int, streaming: bool) -> list[range]:
    """The requests sent together, fixed by the whole item list and never by what is still missing.

    A resumed run sends each unfinished unit whole, so every request meets the same neighbours as in an
    uninterrupted run: in bf16 a batch's make-up changes the rounding and, now and then, a greedy token."""
    step = batch_size * STREAM_UNIT_BATCHES if streaming else batch_size
    return [range(s, min(s + step, n_items)) for s in range(0, n_items, step)]


def _fill(bench: Benchmark, items: list[Item], keys: list[str], cache: CompletionCache, lazy: _LazyBackend,
          batch_size: int) -> None:
    from tqdm import tqdm

    if all(k in cache for k in keys):
        return
    backend = lazy.get()
    # A streaming backend (the hf continuous engine) gets a whole unit at once: it keeps its batch full from
    # it and hands back each completion as it ends, which is when it is cached. Others go batch by batch.
    units = [list(u) for u in work_units(len(items), batch_size, getattr(backend, "streaming", False))]
    units = [u for u in units if any(keys[i] not in cache for i in u)]
    bar = tqdm(total=sum(len(u) for u in units), desc=f"{bench.name}: generating", unit="prompt", mininterval=2)
    for unit in units:
        _fill_batch(items, keys, cache, backend, unit, bar)
    bar.close()


def _fill_batch(items: list[Item], keys: list[str], cache: CompletionCache, backend: Backend, batch: list[int],
                bar) -> None:
    """Sends the batch whole; completions already cached (a unit cut short) are regenerated, not stored twice."""
    from ..backends.base import ContextTooLong, overflowing

    def put(j: int, row: dict) -> None:
        if keys[batch[j]] not in cache:
            cache.put(keys[batch[j]], row)

    reqs = [items[i].request for i in batch]
    over = set(overflowing(backend, reqs))
    for j in sorted(over):
        put(j, {"item": items[batch[j]].id, "over_context": True,
                "prompt_tokens": backend.count_prompt_tokens(reqs[j])})
    bar.update(len(over))
    send = [j for j in range(len(batch)) if j not in over]
    while send:
        done = set()
        try:
            if getattr(backend, "streaming", False):
                results = ((send[k], out) for k, out in backend.generate_stream([reqs[j] for j in send]))
            else:
                results = zip(send, backend.generate([reqs[j] for j in send]))
            for j, out in results:
                put(j, {"item": items[batch[j]].id, "over_context": False, "text": out.text,
                        "prompt_tokens": out.prompt_tokens, "completion_tokens": out.completion_tokens,
                        "finish_reason": out.finish_reason,
                        **({"served_model": out.model} if getattr(out, "model", None) else {})})
                done.add(j)
                bar.update(1)
        except ContextTooLong as e:   # the backend knew better than our count: record those, retry the rest
            bad = {send[i] for i in e.indices}
            if not bad:
                raise
            for j in sorted(bad):
                put(j, {"item": items[batch[j]].id, "over_context": True, "prompt_tokens": None})
            bar.update(len(bad))
            send = [j for j in send if j not in bad and j not in done]
            continue
        send = []


def _score(bench: Benchmark, items: list[Item], keys: list[str], cache: CompletionCache) -> list[dict]:
    rows = []
    for item, key in zip(items, keys):
        c = cache.get(key)
        over = bool(c.get("over_context"))
        parsed, scores = (None, {}) if over else bench.score(item, c["text"])
        rows.append({"benchmark": bench.name, "item_id": item.id, "bucket": item.bucket, "axes": item.axes,
                     "prompt_hash": prompt_hash(item.request), "over_context": over,
                     "prompt_tokens": c.get("prompt_tokens"), "output": None if over else c["text"],
                     "parsed": parsed, "scores": scores, **({"cluster": item.cluster} if item.cluster else {})})
    return rows


def _generate_and_score(bench: Benchmark, items: list[Item], cache: CompletionCache, lazy: _LazyBackend,
                        cfg: EvalConfig, ident: str, out: Path) -> list[dict]:
    keys = [request_key(bench.name, it.id, it.request, ident) for it in items]
    try:
        _fill(bench, items, keys, cache, lazy, cfg.batch_size)
    except BackendError as e:   # advice to resume only where there is something to resume from
        kept = (f" ({len(cache)} completions are kept in {out / 'cache.jsonl'}; re-run the same command to resume)"
                if len(cache) else "")
        raise BackendError(f"{bench.name}: {e}{kept}") from e
    return _score(bench, items, keys, cache)


def _build_all(cfg: EvalConfig, context=None) -> dict[str, tuple[Benchmark, Any, list[Item], Any]]:
    """Every benchmark's items (or, for a self-driven one, its plan): all checks before any model call."""
    built = {}
    for name in cfg.benchmarks:
        bench = get_benchmark(name)
        settings = bench.bind(getattr(cfg, bench.section), cfg.model)
        if bench.driven is not None:   # checked now too: its data, tasks, and what the backend can run
            built[bench.name] = (bench, settings, [], bench.driven.plan(settings, cfg, context))
            continue
        items = bench.build(settings, cfg.seed)
        items = limit_per_bucket(items, cfg.limit)
        ids = [it.id for it in items]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"{bench.name}: item ids are not unique (a settings list repeats a value?)")
        built[bench.name] = (bench, settings, items, None)
    return built


def run_eval(cfg: EvalConfig, backend: Backend | None = None, context=None) -> Path:
    """Run (or resume) an evaluation; returns the run directory holding results.json and samples.jsonl. With
    `backend.openai.serve`, a server is started for the model first and stopped afterwards (backends.serving); the
    cache keys on the configured settings, not on the server's port, so a re-run still resumes. `context`: the
    run's precision.RunContext for a local (hf) model; None (`needlework eval`): resolved here, once."""
    cfg.validate()
    if context is None and backend is None and cfg.backend.kind == "hf":
        from ..precision import resolve_context
        context = resolve_context(cfg.backend.hf.precision, cfg.backend.hf.device)
    out = Path(cfg.out)
    with folder_lock(out):   # one writer: a second eval into this folder is refused, naming the first
        _refuse_other_model(out, cfg.model)
        with atomic_open(out / "config.yaml") as f:
            f.write(to_yaml(cfg))
        with serving(cfg.backend, cfg.model) as served:
            return _run(dataclasses.replace(cfg, backend=served), backend, out, cfg, context)


def _run(cfg: EvalConfig, backend: Backend | None, out: Path, ident_cfg: EvalConfig, context=None) -> Path:
    built = _build_all(cfg, context)
    cache = CompletionCache(out / "cache.jsonl")
    lazy = _LazyBackend(cfg, backend, context)
    # the weights' content where this process loads them or a server is started on a local copy
    # (backend.openai.serve); a running server's model is whatever it serves
    fingerprint = (content_fingerprint(cfg.model) if cfg.backend.kind == "hf"
                   else (ident_cfg.backend.openai.serve and model_content(cfg.model))
                   or {"weights_sha256": None, "tokenizer_sha256": None})
    ident = model_identity(ident_cfg, fingerprint)
    world, rank = world_rank()
    if world > 1:   # every rank generates its share (evals/shards.py); rank 0 merges and scores
        token = shards.launch_token(ident)
        if cfg.backend.kind == "hf":
            _fill_share(built, cfg, ident, out, cache, lazy, world, rank, token)
        if rank != 0:
            return out
        shards.wait_and_merge(out, world if cfg.backend.kind == "hf" else 1, token, cache)
    results, samples = {}, []
    for name, (bench, settings, items, plan) in built.items():
        if bench.driven is not None:
            rows, notes = bench.driven.run(plan, cfg, out / name, ident)
            companion = {}
        else:
            rows, notes = _generate_and_score(bench, items, cache, lazy, cfg, ident, out), {}
            companion = add_measures(bench, settings, items, rows, cfg.companion, out, ident, lazy, cfg.backend.kind)
        samples.extend(rows)
        res = aggregate(rows, bench.metrics(settings), bench.axes)
        res["describe"] = {**bench.describe(settings), **notes}
        if companion:
            res["companion"] = companion
        results[name] = res
        _warn_over_context(name, res)
    write_jsonl(out / "samples.jsonl", samples)
    write_json(out / "results.json", {
        "benchmarks": results, "over_context_rule": OVER_CONTEXT_RULE,
        "provenance": provenance(ident_cfg, model=cfg.model, backend=lazy.name or cfg.backend.kind,
                                 served_at=cfg.backend.openai.base_url if ident_cfg.backend.openai.serve else None,
                                 seeds=[cfg.seed], model_identity=ident, **fingerprint,
                                 precision=lazy.precision, context=context.as_dict() if context else None,
                                 **({"served_models": lazy.served_models} if lazy.served_models else {}))})
    return out


def _fill_share(built: dict, cfg: EvalConfig, ident: str, out: Path, cache: CompletionCache, lazy: _LazyBackend,
                world: int, rank: int, token: str) -> None:
    """This rank's completions of every generating benchmark into its own cache, then its marker."""
    mine = shards.rank_cache(out, rank, cache)
    counts = {}
    for name, (bench, _settings, items, _plan) in built.items():
        if bench.driven is not None:
            continue
        idx = shards.share(items, world, rank)
        sub = [items[i] for i in idx]
        keys = [request_key(bench.name, it.id, it.request, ident) for it in sub]
        _fill(bench, sub, keys, mine, lazy, cfg.batch_size)
        counts[name] = len(sub)
    shards.mark_filled(out, rank, token, counts)


def _refuse_other_model(out: Path, model: str) -> None:
    """A folder holding another model's results is refused, never silently replaced (its cache would be kept,
    but results.json and samples.jsonl would then describe the new model only)."""
    import json
    try:
        before = json.loads((out / "results.json").read_text(encoding="utf-8"))["provenance"]["model"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    if not isinstance(before, str) or before == model:
        return
    if Path(before).exists() and Path(model).exists() and Path(before).resolve() == Path(model).resolve():
        return
    raise ConfigError(f"out: {out} holds the results of another model ({before}); choose another out for "
                      f"{model} (or remove {out / 'results.json'} to evaluate there anyway)")


def _warn_over_context(name: str, res: dict) -> None:
    ov = res["overall"]
    if ov["n_over_context"]:
        total = ov["n"] + ov["n_over_context"]
        msg = (f"WARNING {name}: {ov['n_over_context']} of {total} prompts exceed the model's context and are "
               "excluded from accuracy (n_over_context per bucket in results.json)")
        if ov["n"] == 0:
            msg += "; the model's context is too short for every prompt of this benchmark"
        print(msg, file=sys.stderr)



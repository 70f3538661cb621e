"""Token counts and times for the plan, from a handful of real samples and items.

Counts are exact where the tokenizer is available offline (the data's own tokenizer, or the base model's)
and chars/4 otherwise (marked "~"). Times come from throughputs measured on this machine on the configured
model (pipeline/measure.py), or from the `estimate` section where nothing can be measured here.
"""
from __future__ import annotations

import math

from typing import Any, Callable

from ..models import available_offline
from .config import RunConfig


def _counter(spec: str | None, chat: bool) -> tuple[Callable[[str], int], bool]:
    if spec and available_offline(spec, "tokenizer"):
        try:
            from ..tasks.tokenization.tokens import make_counter
            c = make_counter(spec, chat_template=chat)
            if c is not None:
                return c, True
        except Exception:   # a hub-only tokenizer offline: fall back to a rough count, never fail a plan
            pass
    return (lambda text: max(1, len(text) // 4)), False


def data_tokens(cfg: RunConfig, arm: str, seed: int) -> dict[str, Any]:
    """Tokens per sample from a few real samples: exact with the data's tokenizer, else chars/4 of samples
    drawn without it (where the task can be drawn without a tokenizer)."""
    import dataclasses

    from ..tasks.files.dataset import SampleMaker
    dcfg = cfg.data_for(arm, seed)
    k = min(cfg.estimate.sample_for_tokens, dcfg.n)
    try:
        if dcfg.tokenizer and not available_offline(dcfg.tokenizer, "tokenizer"):
            raise LookupError(f"tokenizer {dcfg.tokenizer!r} is not on this machine")
        samples = [s for g in [SampleMaker(dcfg)] for s in (g.sample(i, verify=False) for i in range(k))]
        counts, exact = [s.meta["n_tokens"] for s in samples], True
    except Exception as e:   # the tokenizer cannot be loaded here (a hub model offline)
        try:
            gen = SampleMaker(dataclasses.replace(dcfg, tokenizer=None, chat_template=False))
            counts = [max(1, len(gen.sample(i, verify=False).prompt) // 4) for i in range(k)]
            exact = False
        except Exception:
            return {"per_sample": None, "tokens": None, "exact": False, "note": f"not estimated ({e})"}
    per = sum(counts) / len(counts)
    return {"per_sample": round(per), "tokens": round(per * dcfg.n), "exact": exact, "lengths": counts}


def expected_padded_row(counts: list[int], batch_size: int) -> float:
    """A row's expected length once padded to the longest of its micro-batch: E[max of batch_size draws] from
    the sampled lengths, drawn with replacement, in closed form. Training pays for the padding (a mixture of
    short and long samples pads every batch to its long ones), so the plan counts it."""
    xs, n = sorted(counts), len(counts)
    return sum(x * (((i + 1) / n) ** batch_size - (i / n) ** batch_size) for i, x in enumerate(xs))


# Seconds a stage spends outside the work the throughputs time: loading the model and tokenizer, checkpoint and
# final saves, the first probe's warm-up (training); the backend's start (evaluation). A self-driven benchmark
# states its own start and realised share in its estimate (Benchmark.estimate: `fixed_s`, `realized`).
# Calibrated on two quiet cpu-demo runs (2-core EPYC family 25, SmolLM2, 40 steps): training planned 422 / 669 s
# for 406 (bf16) / 616 (fp32) taken.
TRAIN_FIXED_S = 30.0
EVAL_FIXED_S = 10.0
# The stages run at this share of the bare rates measure.py times on random ids: the data loader, the engine's
# Python loop and scoring (training's padding is counted apart, expected_padded_row; the cpu-demo's prompts, where
# this was measured, pad little). Measured on the cpu-demo (2-core EPYC family 25): training 0.84 in bf16 (382
# tok/s realised vs 457 measured), generation (kv-retrieval, MDQA) 0.86. A run sharing the CPU realised 0.72:
# measured rates assume a quiet machine.
REALIZED = 0.84
GENERATE_REALIZED = 0.86


def train_estimate(cfg: RunConfig, data: dict[str, Any], n: int, tp=None) -> dict[str, Any]:
    """Tokens through forward+backward and the time they take (an upper bound with early stopping)."""
    if data.get("per_sample") is None:
        return {"tokens": None, "seconds": None}
    t = cfg.train.resolved()
    held_out = t.early_stop.enabled or t.mdqa_probe.enabled   # train/run.py holds the last rows out for either
    if held_out:
        n = max(n - t.early_stop.held_out, 1)
    seen = t.max_steps * t.global_batch if t.max_steps else n * t.epochs
    tokens = round(seen * data["per_sample"])
    if cfg.train.backend == "openai":   # billed on the samples' own tokens
        return {"tokens": tokens, "seconds": None, "note": "service-side; minutes to hours"}
    rate = tp.train_tokens_per_s * REALIZED if tp is not None else cfg.estimate.train_tokens_per_s
    padded = expected_padded_row(data["lengths"], t.batch_size) if data.get("lengths") else data["per_sample"]
    seconds = seen * padded / rate + TRAIN_FIXED_S
    steps = t.max_steps or math.ceil(n * t.epochs / t.global_batch)
    prefill = tp.prefill_tokens_per_s * REALIZED if tp is not None else cfg.estimate.eval_tokens_per_s
    if held_out:   # the held-out rows are teacher-forced at every check and at step 0
        checks = steps // t.early_stop.every + 1
        seconds += checks * t.early_stop.held_out * data["per_sample"] / prefill
    if t.mdqa_probe.enabled:   # each probe: n MDQA prompts of k documents (~135 tokens each) prefilled
        probes = steps // t.mdqa_probe.every + 1
        seconds += probes * t.mdqa_probe.n * (135 * t.mdqa_probe.resolved().k + 60) / prefill
    return {"tokens": tokens, "seconds": seconds}


def eval_estimate(cfg: RunConfig) -> dict[str, Any]:
    """Prompt tokens of one evaluation of one model (all benchmarks), from a sample of real items."""
    from ..evals.registry import get_benchmark
    from ..evals.runner import limit_per_bucket
    ecfg = cfg.eval_for(cfg.base_model(), "<plan>")
    spec = cfg.backend.openai.tokenizer or (cfg.base_model() if cfg.backend.kind == "hf" else None)
    count, exact = _counter(spec, False)
    per_bench, total, notes, self_driven = {}, 0, [], []
    for name in ecfg.benchmarks:
        bench = get_benchmark(name)
        if bench.kind != "generate":   # its items are not built ahead: the record's own estimate, if it has one
            if bench.estimate is None:
                notes.append(f"{bench.name}: drives the model itself; not estimated")
                continue
            est = bench.estimate(getattr(ecfg, bench.section))
            per_bench[bench.name] = {k: est[k] for k in ("items", "tokens", "new_tokens")}
            per_bench[bench.name].update(realized=est.get("realized", REALIZED), fixed_s=est.get("fixed_s", 0.0))
            self_driven.append(bench.name)
            total += est["tokens"]
            if est.get("note"):
                notes.append(f"{bench.name}: {est['note']}")
            continue
        try:
            items = bench.build(getattr(ecfg, bench.section), ecfg.seed)
        except Exception as e:   # e.g. a data file that is not on this machine yet
            notes.append(f"{bench.name}: not estimated ({e})")
            continue
        items = limit_per_bucket(items, ecfg.limit)   # what the runner will actually send
        probe = probe_items(items, cfg.estimate.sample_for_tokens)
        texts = [it.request.prompt or "\n".join(m["content"] for m in it.request.messages) for it in probe]
        per = sum(count(t) for t in texts) / max(len(texts), 1)
        per_bench[bench.name] = {"items": len(items), "tokens": round(per * len(items)),
                                 "new_tokens": sum(it.request.max_new_tokens for it in items)}
        comp = _companion_tokens(cfg, ecfg, bench, items, probe, count)
        if comp:   # the companion measures' prefills (evals/companion.py), counted in and shown apart
            per_bench[bench.name].update(tokens=per_bench[bench.name]["tokens"] + comp, companion_tokens=comp)
        total += per_bench[bench.name]["tokens"]
    items = sum(b["items"] for b in per_bench.values())
    gen = [b for name, b in per_bench.items() if name not in self_driven]   # prompts the engine itself prefills
    # each benchmark's mean prompt weighs the same: a length that does not move with a size's item counts (a
    # moved length is another measurement, ~10-20 s, cached per length bucket)
    gen_means = [(b["tokens"] - b.get("companion_tokens", 0)) / b["items"] for b in gen if b["items"]]
    return {"mean_generated_prompt": round(sum(gen_means) / len(gen_means)) if gen_means else None,
            "benchmarks": per_bench, "tokens": total, "exact": exact, "notes": notes, "self_driven": self_driven,
            "mean_prompt": round(total / items) if items else None,
            "new_tokens": sum(b["new_tokens"] for b in per_bench.values()),
            "seconds": total / cfg.estimate.eval_tokens_per_s}


def probe_items(items: list, k: int) -> list:
    """k items to count tokens on, taken from every bucket in turn: items come in a grid (question x length x
    ...), so an evenly spaced pick can fall on one length only (every 9th of 72 FLenQA prompts is a 250-token
    one: the plan counted half their tokens)."""
    buckets: dict[str, list] = {}
    for it in items:
        buckets.setdefault(it.bucket, []).append(it)
    queues = [b[::max(1, len(b) * len(buckets) // max(k, 1))] for b in buckets.values()]
    probe = []
    for depth in range(max(map(len, queues), default=0)):
        probe += [q[depth] for q in queues if depth < len(q)]
    return probe[:k]


def _companion_tokens(cfg: RunConfig, ecfg, bench, items: list, probe: list, count) -> int:
    """Prompt tokens the companion measures prefill: each item's prompt again (its answer and the distractors'
    answers after it) and each distinct prompt without the gold passage (MDQA: one per question)."""
    from ..evals.companion import LOGLIK_KINDS, wanted
    if not items or not wanted(bench, ecfg.companion) or cfg.backend.kind not in LOGLIK_KINDS:
        return 0
    settings = getattr(ecfg, bench.section)

    def text(r) -> str:
        return r.prompt if r.prompt is not None else "\n".join(m["content"] for m in r.messages)
    probed = [c for c in (bench.contrast(settings, it) for it in probe) if c is not None]
    if not probed:
        return 0
    without = {text(c.without_gold) for c in (bench.contrast(settings, it) for it in items) if c is not None}
    per_with = sum(count(text(c.with_gold)) for c in probed) / len(probed)
    per_without = sum(count(text(c.without_gold)) for c in probed) / len(probed)
    return round(per_with * len(items) + per_without * len(without))


def eval_fixed_seconds(ev: dict[str, Any]) -> float:
    """Seconds of one evaluation that do not scale with its items (loading, each self-driven benchmark's start)."""
    return EVAL_FIXED_S + sum(b.get("fixed_s", 0.0) for b in ev.get("benchmarks", {}).values())


def eval_seconds(ev: dict[str, Any], tp, realized: float = GENERATE_REALIZED) -> float:
    """Prefill of every prompt plus, at most, every row decoding max_new_tokens in batches of decode_batch, at
    the share of the measured rates a stage realises (GENERATE_REALIZED for needlework's engine generating, a
    self-driven benchmark's own for its token-equivalents)."""
    s = ev["tokens"] / tp.prefill_tokens_per_s
    if tp.decode_step_s is not None:
        s += ev["new_tokens"] / max(tp.decode_batch, 1) * tp.decode_step_s
    return s / realized


def eval_stage_seconds(ev: dict[str, Any], tp) -> float:
    """One evaluation: the benchmarks the engine generates for, the self-driven ones, and the fixed starts."""
    driven = set(ev.get("self_driven", ()))
    gen = {"tokens": 0, "new_tokens": 0}
    seconds = eval_fixed_seconds(ev)
    for name, b in ev["benchmarks"].items():
        if name in driven:
            seconds += eval_seconds(b, tp, b.get("realized", REALIZED))
        else:
            gen["tokens"] += b["tokens"]
            gen["new_tokens"] += b["new_tokens"]
    return seconds + eval_seconds(gen, tp)


def stage_estimate(cfg: RunConfig, kind: str, info: dict[str, Any], data: dict[str, dict[str, Any]],
                   ev: dict[str, Any], tp) -> tuple[int | None, float | None, bool]:
    """(tokens, seconds, exact) of one stage of the plan: `info` is the stage's, `data` data_tokens per arm, `ev`
    eval_estimate, `tp` the throughputs (None where no model stage is left to run)."""
    arm = info.get("arm")
    if kind == "generate":
        return data[arm]["tokens"], info["n"] / 200.0, data[arm]["exact"]   # ~1,000 samples/s exact; model-free
    if kind == "train":
        t = train_estimate(cfg, data[arm], cfg.data_for(arm, info["seed"]).n, tp)
        return t["tokens"], t["seconds"], data[arm]["exact"]
    if kind == "eval":
        return (ev["tokens"], eval_stage_seconds(ev, tp) if tp is not None else ev["seconds"] + eval_fixed_seconds(ev),
                ev["exact"])
    per = data[cfg.arm].get("per_sample")
    if kind == "loss-map" and tp is not None and per:
        return None, 2 * cfg.report.loss_map_n * per / tp.prefill_tokens_per_s + 5, True
    if kind == "heads" and tp is not None and per:
        # two models, fp32 eager attention with every layer's weights kept: ~4x a plain prefill (measured ~3-5x)
        return None, 2 * 4 * cfg.report.head_maps_n * per / tp.prefill_tokens_per_s + 10, True
    return None, None, True


def throughput(cfg: RunConfig, data: dict[str, Any], ev: dict[str, Any], context=None, log=print):
    """Measured throughputs of the configured model here (at the run's precision.RunContext; None: resolved
    from cfg for this plan alone), or the configured ones where it cannot be measured. For the estimate only."""
    from .measure import configured, measure_cached
    if not cfg.estimate.measure:
        return configured(cfg, "estimate.measure is off")
    if cfg.train.backend == "openai" or cfg.backend.kind != "hf":
        return configured(cfg, "the model runs on a service; set estimate.* for it")
    if not available_offline(cfg.train.model, "weights"):
        return configured(cfg, f"{cfg.train.model} has no weights on this machine (not a bundled model, a local "
                               "folder or a cached hub model), so nothing was measured")
    t = cfg.train.resolved()
    per = data.get("per_sample") or 512
    try:
        return measure_cached(
            cfg.train.model, context or cfg.resolve_context(), log=log, params=t.params, lora=t.lora, eval_len=min(_bucket(_eval_len(ev) or per, 256), t.max_length),
            eval_batch=cfg.backend.hf.batch_size, train_len=min(_bucket(per, 128), t.max_length),
            train_batch=t.batch_size, gradient_checkpointing=t.gradient_checkpointing)
    except Exception as e:   # a hub-only model offline, no memory for it here, ...: never fail a plan
        return configured(cfg, f"not measured here ({type(e).__name__}: {str(e)[:120]})")


def _eval_len(ev: dict[str, Any]) -> int | None:
    """The prompt length prefill is measured at: the mean over the benchmarks whose prompts the engine prefills
    (kv-retrieval, MDQA: ~700 tokens in the cpu-demo) of their mean prompt; self-driven benchmarks' short
    token-equivalents (~130) would measure a rate a third higher than the long prompts get."""
    return ev.get("mean_generated_prompt") or ev.get("mean_prompt")


def _bucket(tokens: int, step: int) -> int:
    """Lengths measured at, rounded up to a multiple of `step`: tokens/s hardly moves within one, and a plan
    at another size (another mean prompt) then reuses the cached measurement instead of measuring twice.
    Evaluation prompts: 256 (at ~700 tokens attention is a small share of the work); training rows: 128."""
    return max(step, -(-int(tokens) // step) * step)


def fmt_tokens(n: int | None, exact: bool = True) -> str:
    if n is None:
        return "?"
    return ("" if exact else "~") + (f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}K" if n >= 1e3 else str(n))


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "?"
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.1f} min" if s >= 60 else f"{s:.0f} s"

"""Token counts and times for the dry-run plan, from a handful of real samples and items.

Counts are exact where the tokenizer is available offline (the data's own tokenizer, or the base model's)
and chars/4 otherwise (marked "~"); times divide tokens by the throughputs in the `estimate` section.
"""
from __future__ import annotations

from typing import Any, Callable

from .config import RunConfig


def _counter(spec: str | None, chat: bool) -> tuple[Callable[[str], int], bool]:
    if spec:
        try:
            from ..tasks.tokens import make_counter
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

    from ..tasks.dataset import Generator
    dcfg = cfg.data_for(arm, seed)
    k = min(cfg.estimate.sample_for_tokens, dcfg.n)
    try:
        samples = [s for g in [Generator(dcfg)] for s in (g.sample(i, verify=False) for i in range(k))]
        counts, exact = [s.meta["n_tokens"] for s in samples], True
    except Exception as e:   # the tokenizer cannot be loaded here (a hub model offline)
        try:
            gen = Generator(dataclasses.replace(dcfg, tokenizer=None, chat_template=False))
            counts = [max(1, len(gen.sample(i, verify=False).prompt) // 4) for i in range(k)]
            exact = False
        except Exception:
            return {"per_sample": None, "tokens": None, "exact": False, "note": f"not estimated ({e})"}
    per = sum(counts) / len(counts)
    return {"per_sample": round(per), "tokens": round(per * dcfg.n), "exact": exact}


def train_estimate(cfg: RunConfig, data: dict[str, Any], n: int) -> dict[str, Any]:
    if data.get("per_sample") is None:
        return {"tokens": None, "seconds": None}
    t = cfg.train.resolved()
    seen = t.max_steps * t.global_batch if t.max_steps else n * t.epochs
    tokens = round(seen * data["per_sample"])
    if cfg.train.backend == "openai":
        return {"tokens": tokens, "seconds": None, "note": "service-side; minutes to hours"}
    return {"tokens": tokens, "seconds": tokens / cfg.estimate.train_tokens_per_s}


def eval_estimate(cfg: RunConfig) -> dict[str, Any]:
    """Prompt tokens of one evaluation of one model (all benchmarks), from a sample of real items."""
    from ..evals.registry import get_benchmark
    from ..evals.runner import limit_per_bucket
    ecfg = cfg.eval_for(cfg.base_model(), "<plan>")
    spec = cfg.backend.get("tokenizer") or (cfg.base_model() if cfg.backend.get("kind", "hf") == "hf" else None)
    count, exact = _counter(spec, False)
    per_bench, total, notes = {}, 0, []
    for name in ecfg.benchmarks:
        bench = get_benchmark(name)
        if bench.kind != "generate":
            notes.append(f"{bench.name}: lm-eval drives the model; not estimated")
            continue
        try:
            items = bench.build(getattr(ecfg, bench.section), ecfg.seed)
        except Exception as e:   # e.g. a data file that is not on this machine yet
            notes.append(f"{bench.name}: not estimated ({e})")
            continue
        items = limit_per_bucket(items, ecfg.limit)   # what the runner will actually send
        step = max(1, len(items) // cfg.estimate.sample_for_tokens)
        probe = items[::step][:cfg.estimate.sample_for_tokens]
        texts = [it.request.prompt or "\n".join(m["content"] for m in it.request.messages) for it in probe]
        per = sum(count(t) for t in texts) / max(len(texts), 1)
        per_bench[bench.name] = {"items": len(items), "tokens": round(per * len(items))}
        total += per_bench[bench.name]["tokens"]
    return {"benchmarks": per_bench, "tokens": total, "exact": exact, "notes": notes,
            "seconds": total / cfg.estimate.eval_tokens_per_s}


def fmt_tokens(n: int | None, exact: bool = True) -> str:
    if n is None:
        return "?"
    return ("" if exact else "~") + (f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}K" if n >= 1e3 else str(n))


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "?"
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.1f} min" if s >= 60 else f"{s:.0f} s"

"""Evaluation throughput on the cpu-demo's evaluation prompts: bare prefill vs the static and continuous engines.

    .venv/bin/python benchmarks/bench_eval.py [--n 4] [--benchmarks kv-retrieval,mdqa] [--precision fp32]

Items are built exactly as `needlework run --preset cpu-demo` evaluates them (configs/cpu-demo.yaml: kv-retrieval,
8 dictionaries, gold at 1/3/6/8, 25 per position; 10-document MDQA, gold at 1/5/10, 15 per position; SmolLM2
through its chat template; batch 16) and sent through the evaluation runner's own loop (evals/runner.py
`_fill`), once per engine, with the same weights in the same process:

- bare:       the static engine's batches (runner chunks of eval.batch_size, cut by HFBackend.plan), left-padded,
              one `model(input_ids, attention_mask, logits_to_keep=1)` each: prefill only, no decoding.
- static:     today's path (backend.hf.engine=static): padded batches decoding until their longest row ends.
- continuous: the new default (backend.hf.engine=continuous).

`--compile` adds `compiled`: the bare prefill again through torch.compile(model, dynamic=True) (inductor, CPU),
timed after one untimed pass that compiles it (its seconds printed), with its next-token argmax compared to
eager's on every prompt: if compiling does not speed up the bare prefill, it cannot speed up an engine built on it.

Printed: prompt tokens/s of each (real prompt tokens, padding not counted), the ratios continuous/bare (goal
>= 0.9) and continuous/static (goal >= 2), and how many completions differ between the engines (goal 0).
`--n` keeps the first n items of each bucket (the runner's `limit`). The machine is shared: the three are run
per benchmark in rotating order, so a load change does not always hit the same one, and `--repeat` keeps each
one's fastest run; report `uptime` with the figures.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def bare_prefill(backend, reqs, ids, chunk: int, model=None, argmax: list | None = None) -> float:
    """Seconds for the static engine's prefill alone: its batches, left-padded, last-position logits only
    (`model`: another callable for the same weights; `argmax` collects each row's next token)."""
    import torch

    model = model if model is not None else backend.model   # a compiled module has no truth value
    t = 0.0
    for start in range(0, len(reqs), chunk):
        idx = list(range(start, min(start + chunk, len(reqs))))
        for batch in backend.plan([reqs[i] for i in idx], [len(ids[i]) for i in idx]):
            rows = [ids[idx[j]] for j in batch]
            width = max(map(len, rows))
            x = torch.full((len(rows), width), backend.pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, toks in enumerate(rows):
                x[r, width - len(toks):] = torch.tensor(toks)
                mask[r, width - len(toks):] = 1
            t0 = time.perf_counter()
            with backend.compute_context():
                out = model(input_ids=x.to(backend.device), attention_mask=mask.to(backend.device),
                            logits_to_keep=1)
            t += time.perf_counter() - t0
            if argmax is not None:
                argmax.extend(out.logits[:, -1].argmax(-1).tolist())
    return t


def n_static_steps(backend, reqs, ids, chunk: int, outs: list[dict]) -> int:
    """Decode steps the static engine ran: each of its batches decodes until its longest row ends."""
    steps = 0
    for start in range(0, len(reqs), chunk):
        idx = list(range(start, min(start + chunk, len(reqs))))
        for batch in backend.plan([reqs[i] for i in idx], [len(ids[i]) for i in idx]):
            steps += max(outs[idx[j]]["completion_tokens"] for j in batch) - 1
    return steps


def through_runner(backend, bench, items, chunk: int) -> tuple[float, list[dict]]:
    """Seconds for the evaluation runner's generation loop with this backend, and the completions it cached."""
    from needlework.evals.cache import CompletionCache, request_key
    from needlework.evals.runner import _fill, _LazyBackend

    with tempfile.TemporaryDirectory() as tmp:
        cache = CompletionCache(os.path.join(tmp, "cache.jsonl"))
        keys = [request_key(bench.name, it.id, it.request, "bench") for it in items]
        t0 = time.perf_counter()
        _fill(bench, items, keys, cache, _LazyBackend(None, backend), chunk)
        dt = time.perf_counter() - t0
        return dt, [cache.get(k) for k in keys]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--preset", default="cpu-demo")
    ap.add_argument("--n", type=int, default=None, help="first n items per bucket (default: all of the preset's)")
    ap.add_argument("--benchmarks", default=None, help="comma-separated subset of the preset's benchmarks")
    ap.add_argument("--precision", default=None, choices=["auto", "bf16", "fp32"], help="default: the preset's")
    ap.add_argument("--repeat", type=int, default=1, help="run each side this many times (interleaved), keep the "
                    "fastest: on a shared machine the least disturbed run is the best estimate of the cost")
    ap.add_argument("--compile", action="store_true", help="also time the bare prefill through torch.compile")
    args = ap.parse_args(argv)

    import torch

    from needlework.backends.hf import HFBackend
    from needlework.evals.runner import _build_all
    from needlework.pipeline.presets import load_preset

    rc = load_preset(args.preset)
    cfg = rc.eval_for(args.model, "unused")
    cfg.limit = args.n
    if args.benchmarks:
        cfg.benchmarks = args.benchmarks.split(",")
    built = {k: v for k, v in _build_all(cfg).items() if v[2]}
    bs, precision = rc.backend.hf.batch_size, args.precision or rc.precision
    static = HFBackend(args.model, batch_size=bs, precision=precision, progress=False, engine="static",
                       max_padding=rc.backend.hf.max_padding)
    cont = HFBackend(model_obj=static.model, tokenizer=static.tokenizer, batch_size=bs, precision=precision,
                     progress=False, engine="continuous")
    assert cont.engine == "continuous", "this model cannot use the continuous engine"
    from needlework.backends import Request
    for b in (static, cont):   # warm-up: one-time allocations and kernel selection are not measured
        b.generate([Request(prompt="Warm up the kernels " * 20, max_new_tokens=4)] * 2)

    print(f"model {args.model} ({str(next(static.model.parameters()).dtype).replace('torch.', '')}, precision setting "
          f"{precision}, {static.device}, {torch.get_num_threads()} threads); preset {args.preset}: eval batch "
          f"{cfg.batch_size}, backend batch {bs}" + (f", first {args.n} per bucket" if args.n else ""))
    totals = {"tokens": 0, "bare": 0.0, "static": 0.0, "continuous": 0.0, "diff": 0, "n": 0}
    for k, (name, (bench, _, items, _plan)) in enumerate(built.items()):
        reqs = [it.request for it in items]
        ids = [static.renderer.token_ids(r) for r in reqs]
        runs = {
            "bare": lambda: (bare_prefill(static, reqs, ids, cfg.batch_size), None),
            "static": lambda: through_runner(static, bench, items, cfg.batch_size),
            "continuous": lambda: through_runner(cont, bench, items, cfg.batch_size),
        }
        t, outs = {}, {}
        for rep in range(args.repeat):
            order = list(runs)[(k + rep) % 3:] + list(runs)[:(k + rep) % 3]
            for which in order:
                dt, outs[which] = runs[which]()
                t[which] = min(dt, t.get(which, dt))
                print(f"  {name}: {which} done in {dt:.1f} s (load {os.getloadavg()[0]:.1f})", file=sys.stderr)
        n_tok = sum(map(len, ids))
        if args.compile:
            compiled, eager_next, comp_next = torch.compile(static.model, dynamic=True), [], []
            t0 = time.perf_counter()
            bare_prefill(static, reqs, ids, cfg.batch_size, model=compiled)   # compiles (and recompiles per shape)
            first = time.perf_counter() - t0
            bare_prefill(static, reqs, ids, cfg.batch_size, argmax=eager_next)
            t["compiled"] = bare_prefill(static, reqs, ids, cfg.batch_size, model=compiled, argmax=comp_next)
            runs["compiled"] = None
            same = sum(a == b for a, b in zip(eager_next, comp_next))
            print(f"  {name}: compiled: first pass (compiling) {first:.1f} s; next token as eager's on {same} of "
                  f"{len(comp_next)} prompts", file=sys.stderr)
        diff = sum(a["text"] != b["text"] for a, b in zip(outs["static"], outs["continuous"]))
        st = cont.last_stats
        gen = sum(o["completion_tokens"] for o in outs["continuous"])
        print(f"{name}: {len(items)} prompts, {n_tok} prompt tokens (mean {n_tok / len(items):.0f}), "
              f"{gen} generated (mean {gen / len(items):.1f})")
        for which in runs:
            print(f"  {which:<11} {t[which]:7.1f} s  {n_tok / t[which]:7.1f} prompt tok/s")
        print(f"  continuous: {st['prefill_tokens']} prompt tokens computed, {st['reused_tokens']} reused from a "
              f"shared prefix, in {st['prefill_forwards']} forwards; {st['decode_steps']} decode steps carrying "
              f"{st['decode_rows']} rows (static: {n_static_steps(static, reqs, ids, cfg.batch_size, outs['static'])} "
              f"decode steps)")
        if "compiled" in t:
            print(f"  compiled/bare {t['bare'] / t['compiled']:.2f} (bare prefill through torch.compile)")
        print(f"  continuous/bare {t['bare'] / t['continuous']:.2f}   continuous/static "
              f"{t['static'] / t['continuous']:.2f}   completions differing: {diff} of {len(items)}")
        totals["tokens"] += n_tok
        totals["diff"] += diff
        totals["n"] += len(items)
        for which in ("bare", "static", "continuous"):
            totals[which] += t[which]
    r_bare, r_static = totals["bare"] / totals["continuous"], totals["static"] / totals["continuous"]
    print(f"all: {totals['n']} prompts, {totals['tokens']} prompt tokens; prompt tok/s bare "
          f"{totals['tokens'] / totals['bare']:.1f}, static {totals['tokens'] / totals['static']:.1f}, continuous "
          f"{totals['tokens'] / totals['continuous']:.1f}")
    print(f"continuous/bare {r_bare:.2f} (goal >= 0.9: {'OK' if r_bare >= 0.9 else 'BELOW'}); continuous/static "
          f"{r_static:.2f} (goal >= 2: {'OK' if r_static >= 2 else 'BELOW'}); completions differing "
          f"{totals['diff']} of {totals['n']}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

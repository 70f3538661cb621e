"""Commands of the evals stage: `eval` (run benchmarks, resumable) and `compare` (two runs, per bucket)."""
from __future__ import annotations

from .options import add_config_args, comma_list, configured_run


def cmd_eval(args) -> int:
    from ..evals.runner import EvalConfig, run_eval
    out = configured_run(args, EvalConfig, {"model": "model", "benchmarks": "benchmarks", "backend": "backend.kind",
                                            "base_url": "backend.base_url", "out": "out", "seed": "seed",
                                            "limit": "limit", "batch_size": "batch_size"}, run_eval)
    print(f"results: {out / 'results.json'}\nsamples: {out / 'samples.jsonl'}\nlibrary log: {out / 'logs'}")
    return 0


def cmd_compare(args) -> int:
    from ..evals.compare import compare
    table, pngs = compare(args.run_a, args.run_b, args.out)
    print(table)
    for p in pngs:
        print(f"plot: {p}")
    return 0


def add_eval_parsers(sub) -> None:
    from ..evals.registry import all_benchmarks
    known = all_benchmarks()   # the help names what is registered, so it cannot go stale
    p = sub.add_parser("eval", help=f"run benchmarks ({', '.join(known)}); resumable",
                       epilog="benchmarks: " + "; ".join(f"{n}: {b.help}" if b.help else n for n, b in known.items()))
    add_config_args(p)
    p.add_argument("--model", help="local HF folder, bundled model name, or the server's model name")
    p.add_argument("--benchmarks", type=comma_list, help=f"comma-separated: {','.join(known)}")
    p.add_argument("--backend", help="backend kind (sets backend.kind), e.g. hf or openai")
    p.add_argument("--base-url", help="OpenAI-compatible server URL (sets backend.base_url)")
    p.add_argument("--out", help="run directory (results.json, samples.jsonl, cache.jsonl)")
    p.add_argument("--seed", type=int)
    p.add_argument("--limit", type=int, help="first N items of each bucket (smoke runs)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--verbose", "-v", action="store_true", help="library output on the terminal, not in logs/")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("compare", help="per-bucket differences of two eval runs, with intervals and PNG plots")
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--out", help="folder for compare.json and the plots (default RUN_B/compare)")
    p.set_defaults(func=cmd_compare)

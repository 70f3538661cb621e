"""Claim 3's general tasks: lm-eval's `hf` model vs needlework-hf (each multiple-choice context encoded once).

    .venv/bin/python benchmarks/bench_general.py [--tasks arc_easy,piqa,hellaswag] [--limit 200] [--precision auto]

The cpu-demo's tasks, items and batch (64) through needlework's own general-benchmark plan (evals/general), once
per harness model, with the same weights loaded by each and a fresh lm-eval request cache, in alternating order
per task so a load change does not always hit the same one. Printed per task: seconds of each (the harness call
alone: model loading is outside), the ratio hf / needlework-hf, accuracy of each, how many items chose a
different answer (bf16 batches round differently: a near-tie may flip; fp32 should give 0) and the largest
difference of a choice's log-likelihood. The machine is shared: report `uptime` and `lscpu` with the figures.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

KINDS = ("hf", "needlework-hf")


def _plan(kind: str, tasks: list[str], limit: int, precision: str, batch: int):
    from needlework.config import load_config
    from needlework.evals.general.benchmark import GeneralConfig, plan
    from needlework.evals.runner import EvalConfig
    cfg = load_config(EvalConfig, None, ["model=smollm2-135m-instruct", "benchmarks=[general]",
                                         f"backend.hf.precision={precision}"])
    s = GeneralConfig(tasks=tasks, limits={t: limit for t in tasks}, batch_size=batch, harness_model=kind)
    return plan(s, cfg)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="arc_easy,piqa,hellaswag")
    ap.add_argument("--limit", type=int, default=200, help="items per task (the cpu-demo's 200)")
    ap.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    ap.add_argument("--batch", type=int, default=64, help="the cpu-demo's general.batch_size")
    args = ap.parse_args(argv)
    from needlework.evals.general import benchmark as general, models as harness_models
    from needlework.logs import third_party_to
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    plans = {k: _plan(k, tasks, args.limit, args.precision, args.batch) for k in KINDS}
    m = plans["hf"].models[tasks[0]]
    print(f"SmolLM2-135M-Instruct, {m.kwargs.get('dtype')} (precision {args.precision}), {m.kwargs.get('device')}, "
          f"batch {args.batch}, {args.limit} items per task, {os.cpu_count()} CPUs")
    total = {k: 0.0 for k in KINDS}
    with tempfile.TemporaryDirectory() as tmp, third_party_to(Path(tmp) / "library.log"):
        for n, task in enumerate(tasks):
            res = {}
            for k in (KINDS if n % 2 == 0 else KINDS[::-1]):
                harness_models.make_lm(plans[k].models[task])   # the weights loaded outside the timing
                t0 = time.perf_counter()
                res[k] = general.evaluate_task(plans[k], task, Path(tmp) / f"{k}-{task}")
                res[k]["wall"] = time.perf_counter() - t0
                total[k] += res[k]["wall"]
            a, b = (res[k]["rows"] for k in KINDS)
            differ = sum(x["chosen"] != y["chosen"] for x, y in zip(a, b))
            dll = max((abs(c["logprob"] - d["logprob"]) for x, y in zip(a, b)
                       for c, d in zip(x["choices"], y["choices"])), default=0.0)
            acc = {k: sum(r["scores"]["score"] for r in res[k]["rows"]) / max(1, len(res[k]["rows"])) for k in KINDS}
            print(f"{task:10s} hf {res['hf']['wall']:6.1f} s  needlework-hf {res['needlework-hf']['wall']:6.1f} s  "
                  f"ratio {res['hf']['wall'] / res['needlework-hf']['wall']:.2f}x  acc {acc['hf']:.3f} / "
                  f"{acc['needlework-hf']:.3f}  choices differ {differ} of {len(a)}  max |d loglik| {dll:.4f}")
    print(f"{'all':10s} hf {total['hf']:6.1f} s  needlework-hf {total['needlework-hf']:6.1f} s  "
          f"ratio {total['hf'] / total['needlework-hf']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Generation speed at the paper's defaults (85 dictionaries, 3-4 keys, 3-4 digits, answer template).

Prints samples/s and tokens/s of needlework's generator with exact SmolLM2 token counts, the same without
counting, and the ratio against the obvious baseline measured in the same run: generate each prompt,
then tokenise it fully with the fast tokenizer. Every count is compared with the baseline's: the number
of mismatches must be 0. Throughput is per core: CPU seconds of this (single-threaded) process.

    .venv/bin/python benchmarks/bench_generate.py [--n 2000] [--chat-template]
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")   # one core: no tokenizer thread pool
os.environ.setdefault("RAYON_NUM_THREADS", "1")


def timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--tokenizer", default="smollm2-135m-instruct")
    ap.add_argument("--chat-template", action="store_true")
    args = ap.parse_args()

    from needlework.tasks import generate_sample, get_task
    from needlework.tasks.files.dataset import GenerateConfig, SampleMaker

    cfg = GenerateConfig(task="simple_kv", n=args.n, tokenizer=args.tokenizer, chat_template=args.chat_template,
                         params={"num_dict": 85, "dict_len": [3, 4], "digits": [3, 4], "template": True})
    gen = SampleMaker(cfg)     # loads the tokenizer and runs the per-tokenizer self-check (not timed)
    counter = gen.counter
    task, task_cfg = get_task("simple_kv"), cfg.task_config()
    n = args.n

    # Baseline: generate, then tokenise every whole prompt with the fast tokenizer.
    def baseline():
        return [counter.full_count(generate_sample(task, task_cfg, cfg.seed, i).prompt) for i in range(n)]

    def ours():
        return [generate_sample(task, task_cfg, cfg.seed, i, counter).meta["n_tokens"] for i in range(n)]

    def no_count():
        for i in range(n):
            generate_sample(task, task_cfg, cfg.seed, i)

    ours()   # warm the piece cache once, as any run longer than a few hundred samples does
    base_counts, base_cpu, base_wall = timed(baseline)
    our_counts, our_cpu, our_wall = timed(ours)
    _, free_cpu, free_wall = timed(no_count)
    mismatches = sum(a != b for a, b in zip(base_counts, our_counts))
    tokens = sum(our_counts)

    print(f"paper defaults, {n} samples, tokenizer {args.tokenizer}{' (chat template)' if args.chat_template else ''}, "
          f"counting mode: {counter.mode}")
    print(f"  mean prompt tokens            {tokens / n:10.1f}")
    print(f"  baseline (generate+tokenize)  {n / base_cpu:10.0f} samples/s  {sum(base_counts) / base_cpu:12.0f} tokens/s")
    print(f"  needlework exact counts       {n / our_cpu:10.0f} samples/s  {tokens / our_cpu:12.0f} tokens/s")
    print(f"  needlework without counting   {n / free_cpu:10.0f} samples/s")
    print(f"  ratio vs baseline             {base_cpu / our_cpu:10.2f}x   (goal >= 3x)")
    print(f"  count mismatches              {mismatches:10d}   (goal 0)")
    print(f"  (wall clock: baseline {base_wall:.2f}s, exact {our_wall:.2f}s, no counting {free_wall:.2f}s)")


if __name__ == "__main__":
    main()

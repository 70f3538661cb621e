"""Prompt tokens/s of the hf backend on SmolLM2 for MDQA prompts, against bare forward passes.

    .venv/bin/python benchmarks/bench_eval.py [--n 16] [--docs 10] [--batch-size 8]

The harness (render + tokenize + left-pad + generate up to the first line + decode) is timed against
`model(input_ids)` over the same token ids, one prompt at a time, with the same weights, in the same
run. Goal: ratio >= 0.85, i.e. decoding and the harness together add under 15% to the bare forwards.

The machine is shared, so the two are interleaved batch by batch (alternating which goes first): a
load change hits both sides alike. Batches are the ones HFBackend itself forms (HFBackend.plan: sorted by
prompt length, cut by batch size and padding), so the timed generate() calls do all the work a
whole-set call would do.
The bare forward computes logits for every position, as a plain `model(input_ids)` does; generation
only needs the last one. `--baseline last` times `model(input_ids, logits_to_keep=1)` instead: the
stricter comparison, in which only decoding and harness overhead are left.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def mdqa_prompt(recs, i: int, n_docs: int) -> str:
    """REFERENCE.md section 3: the gold passage at a varying position among other questions' gold passages."""
    from needlework.data import gold_passage
    from needlework.tasks.mdqa_train import mdqa_prompt as render

    q = recs[i]
    docs = [gold_passage(recs[(i * 7919 + j + 1) % len(recs)]) for j in range(n_docs - 1)]
    docs.insert(i % n_docs, gold_passage(q))
    return render(q["question"], docs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--n", type=int, default=16, help="MDQA prompts")
    ap.add_argument("--docs", type=int, default=10, help="documents per prompt")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=100, help="MDQA's limit; generation stops at the first newline")
    ap.add_argument("--raw", action="store_true", help="raw prompts instead of chat messages")
    ap.add_argument("--dtype", default="auto", choices=["auto", "bf16", "fp32"])
    ap.add_argument("--baseline", default="full", choices=["full", "last"],
                    help="full: model(input_ids); last: model(input_ids, logits_to_keep=1)")
    args = ap.parse_args(argv)

    import torch

    from needlework.backends import Request
    from needlework.backends.hf import HFBackend
    from needlework.data import load_nq

    recs = load_nq()
    backend = HFBackend(args.model, batch_size=args.batch_size, dtype=args.dtype, progress=False)
    model = backend.model
    prompts = [mdqa_prompt(recs, i, args.docs) for i in range(args.n)]
    reqs = [Request(prompt=p, max_new_tokens=args.max_new_tokens, stop=["\n"]) if args.raw else
            Request(messages=[{"role": "user", "content": p}], max_new_tokens=args.max_new_tokens, stop=["\n"])
            for p in prompts]
    ids = [backend.renderer.token_ids(r) for r in reqs]
    batches = backend.plan(reqs, [len(x) for x in ids])  # exactly the batches generate() would run
    extra = {"logits_to_keep": 1} if args.baseline == "last" else {}

    def bare(batch):
        t = time.perf_counter()
        with torch.inference_mode(), (torch.autocast("cpu", dtype=torch.bfloat16) if backend._autocast
                                      else torch.autocast("cpu", enabled=False)):
            for i in batch:
                model(torch.tensor([ids[i]], device=backend.device), **extra)
        return time.perf_counter() - t

    def harness(batch):
        t = time.perf_counter()
        out = backend.generate([reqs[i] for i in batch])
        return time.perf_counter() - t, out

    # Warm-up on a short prompt: one-time allocations and kernel selection are not what we measure.
    backend.generate([Request(prompt=prompts[0][:400], max_new_tokens=4)])
    bare([batches[-1][-1]])

    t_bare = t_harness = 0.0
    new_tokens = 0
    outputs = {}
    for k, batch in enumerate(batches):
        if k % 2 == 0:
            t_bare += bare(batch)
            dt, out = harness(batch)
        else:
            dt, out = harness(batch)
            t_bare += bare(batch)
        t_harness += dt
        new_tokens += sum(c.completion_tokens or 0 for c in out)
        outputs.update(zip(batch, out))
        print(f"  batch {k + 1}/{len(batches)}: {len(batch)} prompts, "
              f"{max(len(ids[i]) for i in batch)} tokens max", file=sys.stderr)

    n_prompt = sum(len(x) for x in ids)
    tps_h, tps_b = n_prompt / t_harness, n_prompt / t_bare
    ratio = tps_h / tps_b
    print(f"model {args.model} ({str(next(model.parameters()).dtype).replace('torch.', '')}, {backend.device}, "
          f"{torch.get_num_threads()} threads); {args.n} MDQA prompts x {args.docs} docs "
          f"({'raw' if args.raw else 'chat'}), batch {args.batch_size}, max_new_tokens {args.max_new_tokens}, stop '\\n'")
    print(f"prompt tokens: {n_prompt} (mean {n_prompt / len(ids):.0f}); generated tokens: {new_tokens} "
          f"(mean {new_tokens / len(ids):.1f})")
    print(f"bare forward ({args.baseline} logits): {t_bare:7.1f} s  {tps_b:8.1f} prompt tok/s")
    print(f"hf backend:                {t_harness:7.1f} s  {tps_h:8.1f} prompt tok/s")
    print(f"ratio: {ratio:.3f}  (goal >= 0.85)  {'OK' if ratio >= 0.85 else 'BELOW GOAL'}")
    print(f"example answer: {outputs[0].text!r}  (gold: {recs[0]['answers']})")
    try:
        print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

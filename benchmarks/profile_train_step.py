"""Where one cpu-demo training step's time goes: forward, backward, optimizer, in fp32 and bf16 autocast.

    .venv/bin/python benchmarks/profile_train_step.py [--steps 3] [--compile]
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 .venv/bin/python benchmarks/profile_train_step.py

The batch is the cpu-demo's (SmolLM2-135M-Instruct, 8 simple-KV samples of 6 dictionaries through the chat
template, left-padded, attention projections trainable, answer-only loss with the LM head at answer positions,
fused AdamW as the Trainer uses it). The second form caps oneDNN and ATen at AVX2, which emulates an AVX2-only
CPU on a newer one (bf16 then runs emulated, as it does there). `--compile` also times torch.compile(model)
(inductor) in each precision timed: the first steps (compilation) and the steady state, against eager in the same
process.
Prints seconds per phase (best of --steps) and each variant's step time relative to eager fp32.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def demo_batch(tokenizer, n: int = 8):
    from needlework.tasks import generate_sample, get_task
    from needlework.tasks.files.formats import to_row
    from needlework.train.batches import EncodedDataset, LeftPadCollator, pad_id
    task = get_task("simple_kv")
    cfg = task.config_cls(num_dict=6, template=True)
    rows = []
    for i in range(n):
        r = to_row(generate_sample(task, cfg, 0, i), "messages")
        rows.append({"system": None, "prompt": r["messages"][0]["content"], "answer": r["messages"][1]["content"]})
    ds = EncodedDataset(rows, tokenizer)
    return LeftPadCollator(pad_id(tokenizer))([ds[i] for i in range(len(ds))])


def profile(model, batch, bf16: bool, steps: int) -> dict[str, float]:
    import torch

    from needlework.train.loss import answer_loss_sum
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5, fused=True)
    best = {"forward": float("inf"), "backward": float("inf"), "optimizer": float("inf")}
    for _ in range(steps + 1):          # the first step warms up (kernel choice, allocation, compilation)
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss_sum, n = answer_loss_sum(model, batch)
        t1 = time.perf_counter()
        (loss_sum / n).backward()
        t2 = time.perf_counter()
        opt.step()
        opt.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        for k, v in (("forward", t1 - t0), ("backward", t2 - t1), ("optimizer", t3 - t2)):
            best[k] = min(best[k], v)
    best["step"] = sum(best.values())
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--precisions", default="fp32,bf16", help="which eager variants to time (bf16 is emulated, "
                    "and ~25x slower, on a CPU without native bf16)")
    args = ap.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from needlework.models import resolve_model_path
    from needlework.precision import cpu_has_native_bf16
    from needlework.train.params import apply_policy
    path = resolve_model_path(args.model)
    tok = AutoTokenizer.from_pretrained(path)
    batch = demo_batch(tok)
    model = apply_policy(AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32), "attention", None).train()
    print(f"batch {tuple(batch['input_ids'].shape)}, {int(batch['attention_mask'].sum())} real tokens; torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, ATen {torch.backends.cpu.get_cpu_capability()}, "
          f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '-')}, native bf16: {cpu_has_native_bf16()}")
    rows = {}
    for name, bf16 in (("eager fp32", False), ("eager bf16 autocast", True)):
        if ("bf16" if bf16 else "fp32") in args.precisions.split(","):
            rows[name] = profile(model, batch, bf16, args.steps)
    if args.compile:                    # the inductor CPU backend, once per precision the eager run timed
        compiled = torch.compile(model)
        for name, bf16 in (("compiled fp32", False), ("compiled bf16 autocast", True)):
            if ("bf16" if bf16 else "fp32") in args.precisions.split(","):
                t = time.perf_counter()
                rows[name] = profile(compiled, batch, bf16, args.steps)
                rows[name]["first step incl. compile"] = time.perf_counter() - t
    base = (rows.get("eager fp32") or next(iter(rows.values())))["step"]
    for name, r in rows.items():
        extra = "".join(f", {k} {v:.1f} s" for k, v in r.items() if k.startswith("first"))
        print(f"{name:22s} forward {r['forward']:6.2f} s  backward {r['backward']:6.2f} s  optimizer "
              f"{r['optimizer']:5.3f} s  step {r['step']:6.2f} s  ({base / r['step']:.2f}x the first variant){extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

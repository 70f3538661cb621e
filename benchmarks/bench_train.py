"""Training throughput of the whole stack vs a bare PyTorch loop, SmolLM2-135M at ~1K tokens per sample.

For each parameter policy (attention, lora, full) it runs `run_training` (Trainer + our answer-only loss,
callbacks, logging) for a few steps and a bare loop (model(ids, labels=labels).backward(); AdamW step)
over the same samples, in the same process, and prints tokens/s of both and their ratio (goal >= 0.9).
The stack computes the LM head only at answer positions, so the ratio can exceed 1.

    .venv/bin/python benchmarks/bench_train.py [--steps 4] [--tokens 1024]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_data(path: Path, tokenizer, target: int, n: int) -> int:
    from needlework.io import write_jsonl
    from needlework.tasks import generate_sample, get_task
    from needlework.tasks.files.formats import to_row
    from needlework.train.masking import encode
    task = get_task("simple_kv")
    num_dict, tried = max(1, target // 27), set()
    while True:   # grow/shrink until the templated sample is within 5% of the target (or as close as it gets)
        tried.add(num_dict)
        cfg = task.config_cls(num_dict=num_dict)
        rows = [to_row(generate_sample(task, cfg, 0, i), "messages") for i in range(n)]
        lens = [len(encode(tokenizer, r["messages"][0]["content"], r["messages"][1]["content"]).input_ids)
                for r in rows]
        mean = sum(lens) / n
        nxt = max(1, round(num_dict * target / mean))
        if abs(mean - target) <= 0.05 * target or nxt in tried:   # a one-dictionary sample is the floor
            write_jsonl(path, rows)
            return int(mean)
        num_dict = nxt


def bare_loop(model_path: str, data: Path, policy: str, steps: int, lr: float) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from needlework.train.config import LoraConfig
    from needlework.train.batches import EncodedDataset, read_rows
    from needlework.train.params import apply_policy
    tok = AutoTokenizer.from_pretrained(model_path)
    ds = EncodedDataset(read_rows([str(data)]), tok)
    torch.manual_seed(0)
    model = apply_policy(AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32), policy,
                         LoraConfig())
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    tokens, elapsed = 0, 0.0
    for step in range(steps + 1):                 # step 0 warms up and is not timed
        item = ds[step % len(ds)]
        ids, labels = torch.tensor([item["input_ids"]]), torch.tensor([item["labels"]])
        t = time.perf_counter()
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step:
            elapsed += time.perf_counter() - t
            tokens += ids.numel()
    return tokens / elapsed


def stack(model_path: str, data: Path, policy: str, steps: int, lr: float, out: Path) -> float:
    from needlework.io import read_jsonl
    from needlework.train import TrainConfig, run_training
    run = run_training(TrainConfig(model=model_path, data=[str(data)], out=str(out), params=policy, lr=lr,
                                   global_batch=1, batch_size=1, max_steps=steps + 1, save_steps=10_000,
                                   progress=False, overwrite=True, lr_scheduler="constant", warmup_ratio=0.0))
    rows = list(read_jsonl(run / "train_log.jsonl"))[1:]   # step 1 warms up
    return sum(r["tokens_per_s"] for r in rows) / len(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--policies", default="attention,lora,full")
    args = ap.parse_args()
    import torch
    from transformers import AutoTokenizer

    from needlework.models import ensure_bundled
    model_path = str(ensure_bundled("smollm2-135m-instruct"))
    tok = AutoTokenizer.from_pretrained(model_path)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bench.jsonl"
        mean = make_data(data, tok, args.tokens, args.steps + 1)
        print(f"SmolLM2-135M, {mean} tokens/sample, batch 1, {args.steps} timed steps, "
              f"{torch.get_num_threads()} threads, fp32")
        print(f"{'policy':10s} {'stack tok/s':>12s} {'bare tok/s':>11s} {'ratio':>6s}")
        for policy in args.policies.split(","):
            lr = {"attention": 1e-5, "lora": 1e-4, "full": 1e-5}[policy]
            s = stack(model_path, data, policy, args.steps, lr, Path(tmp) / policy)
            b = bare_loop(model_path, data, policy, args.steps, lr)
            print(f"{policy:10s} {s:12.1f} {b:11.1f} {s / b:6.2f}", flush=True)


if __name__ == "__main__":
    main()

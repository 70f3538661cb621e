"""Throughputs measured on this machine, on the configured model, for the plan's time estimates.

A constant chosen on one machine is wrong on the next (a 2-core AVX2 CPU trained 25x slower than the figure
in the old cpu-demo preset). So before a run (and for `run --dry-run`) the configured model is loaded once
and timed on a few real steps of each kind the run will do, at the run's own context and shapes. The figures
only inform the plan's time estimate: nothing measured here changes what a run evaluates or how.
  prefill   one forward over a batch of prompts of the evaluation's typical length (head on the last token);
  decode    single-token steps with a KV cache at the evaluation batch size;
  train     forward + backward of one micro-batch at the training length, with the run's trainable
            parameters (attention / lora / full) and precision.
Token contents do not change the time, so random ids are used. Results are cached per (machine, model,
precision, shapes), so a dry run followed by the run measures once. Where the model cannot be loaded here (a
hub model offline) or lives on a service (OpenAI), the `estimate.*` figures of the config are used instead
and the plan says so.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Callable


@dataclass
class Throughput:
    source: str                              # "measured" or "configured" (estimate.* constants)
    prefill_tokens_per_s: float
    decode_step_s: float | None              # one decode step at `decode_batch` rows (None: unknown)
    decode_batch: int
    train_tokens_per_s: float
    train_precision: str = "?"
    eval_precision: str = "?"
    note: str = ""
    seconds: float = 0.0                     # what measuring cost

    def as_dict(self) -> dict:
        return asdict(self)


def configured(cfg, note: str = "") -> Throughput:
    e = cfg.estimate
    return Throughput("configured", e.eval_tokens_per_s, None, 1, e.train_tokens_per_s, note=note)


def _best(fn: Callable[[], None], repeats: int, warmup: Callable[[], None] | None = None) -> float:
    (warmup or fn)()   # kernel selection and first allocations are not what the run pays per step
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure(model_name: str, *, context, params: str, lora=None, eval_len: int, eval_batch: int, train_len: int,
            train_batch: int, gradient_checkpointing: bool = False, log: Callable[[str], None] = print) -> Throughput:
    """Times the steps at the run's context (precision.RunContext: the backend's and the trainer's device,
    precision and threads alike)."""
    import torch

    from ..models import load_causal_lm
    from ..train.params import apply_policy

    t0 = time.perf_counter()
    context.apply()
    prec = context.precision
    device = prec.device
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    model = load_causal_lm(model_name).to(device)
    vocab = model.config.get_text_config().vocab_size if hasattr(model.config, "get_text_config") \
        else model.config.vocab_size
    g = torch.Generator().manual_seed(0)

    def ids(rows: int, length: int):
        return torch.randint(10, vocab - 1, (rows, length), generator=g).to(device)

    # --- evaluation: prefill and decode, in the dtype the backend will use (bf16 weights or fp32)
    e_dtype = prec.torch_dtype
    model.eval()
    if e_dtype != torch.float32:
        model.to(e_dtype)
    pre_rows = max(1, min(eval_batch, 2))
    pre_x, warm_x = ids(pre_rows, eval_len), ids(1, 16)

    def prefill(x=pre_x):
        with torch.inference_mode():
            model(input_ids=x, logits_to_keep=1, use_cache=False)
        sync()
    t_pre = _best(prefill, 2, warmup=lambda: prefill(warm_x))
    dec_x = ids(eval_batch, 32)
    with torch.inference_mode():
        out = model(input_ids=dec_x, use_cache=True, logits_to_keep=1)
    cache, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
    steps = 6
    with torch.inference_mode():
        model(input_ids=nxt, past_key_values=cache, use_cache=True)   # warm-up step
        sync()
        t = time.perf_counter()
        for _ in range(steps):
            o = model(input_ids=nxt, past_key_values=cache, use_cache=True)
            nxt = o.logits[:, -1:].argmax(-1)
        sync()
        t_dec = (time.perf_counter() - t) / steps
    del cache, out, o

    # --- training: one micro-batch forward + backward with the run's trainable parameters and precision
    model.to(torch.float32).train()
    model = apply_policy(model, params, lora)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if params != "full":
            model.enable_input_require_grads()
    # Two rows are enough: per-token cost hardly changes with the micro-batch once a row is a few hundred tokens.
    tr_rows = max(1, min(train_batch, 2))
    tr_x = ids(tr_rows, train_len)

    def train_step(x=tr_x):
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=prec.bf16):
            logits = model(input_ids=x, logits_to_keep=min(32, x.shape[1]), use_cache=False).logits
        logits.float().logsumexp(-1).mean().backward()
        model.zero_grad(set_to_none=True)
        sync()
    # The first step at a new shape pays one-off kernel set-up (oneDNN primitives, allocator growth) that can
    # cost more than the step itself: best of two full-size steps after a small warm-up.
    t_train = _best(train_step, 2, warmup=lambda: train_step(ids(1, 16)))
    del model
    tp = Throughput("measured", pre_rows * eval_len / t_pre, t_dec, eval_batch, tr_rows * train_len / t_train,
                    train_precision=prec.name, eval_precision=prec.dtype_name,
                    seconds=round(time.perf_counter() - t0, 1))
    log(f"measured on this machine ({tp.seconds:.0f} s): prefill {tp.prefill_tokens_per_s:,.0f} tok/s, decode "
        f"{tp.decode_step_s * 1000:.0f} ms/step at batch {eval_batch} ({tp.eval_precision}), training "
        f"{tp.train_tokens_per_s:,.0f} tok/s ({tp.train_precision})")
    return tp


def _cpu_jiffies() -> tuple[int, int, int] | None:
    """(busy, total, own): jiffies the whole machine was busy and in all, and this process's own (all threads),
    or None. Only user..steal are summed: guest time is already counted in user."""
    try:
        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:9]]
        with open("/proc/self/stat") as f:
            own = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    idle = cpu[3] + (cpu[4] if len(cpu) > 4 else 0)              # idle + iowait
    return sum(cpu) - idle, sum(cpu), int(own[11]) + int(own[12])  # utime + stime


def others_busy(window_s: float = 0.5) -> float | None:
    """The share of the machine's CPUs that *other* processes used over `window_s`, or None where /proc cannot
    tell. This process is left out: a run that has just converted its model, or measured once, is not a busy
    machine (the 1-minute load average counted exactly that, so a fresh run never remembered its measurement)."""
    import time
    a = _cpu_jiffies()
    time.sleep(window_s)
    b = _cpu_jiffies()
    if a is None or b is None or b[1] <= a[1]:
        return None
    return max(0.0, ((b[0] - a[0]) - (b[2] - a[2])) / (b[1] - a[1]))


def busy_load() -> str | None:
    """What keeps the machine busy, where other processes use a quarter or more of its CPUs (half a core of two),
    else None. A measurement taken then times a share of the machine; remembered, it would skew every later
    plan's estimate (seen here: 310 prefill tok/s cached under load vs 1,066 idle). Where /proc is
    not there, the 1-minute load per core above 1 (which counts this process too)."""
    import os
    share = others_busy()
    if share is not None:
        return f"other processes used {share:.0%} of its CPUs" if share >= 0.25 else None
    try:
        per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    except (OSError, AttributeError):
        return None
    return f"load {per_core:.1f} per core" if per_core > 1.0 else None


def measure_cached(model_name: str, context, log: Callable[[str], None] = print, **shape) -> Throughput:
    """`measure`, remembered per machine, context and settings in the needlework cache, unless taken on a busy
    machine."""
    from ..io import to_jsonable, write_json
    from ..models import cache_dir
    from ..precision import machine_key
    from ..provenance import config_hash
    on = {"precision": context.precision.name, "device": context.device, "threads": context.threads}
    key = config_hash({"machine": machine_key(), "model": model_name, **on, **to_jsonable(shape), "v": 4})
    path = cache_dir() / "throughput.json"
    try:
        known = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        known = {}
    if key in known:
        tp = Throughput(**known[key])
        log(f"throughput measured earlier on this machine: prefill {tp.prefill_tokens_per_s:,.0f} tok/s, training "
            f"{tp.train_tokens_per_s:,.0f} tok/s ({tp.train_precision})")
        return tp
    busy = busy_load()
    log(f"measuring this machine's speed with {model_name} (a few model steps; remembered for later runs) ...")
    tp = measure(model_name, context=context, log=log, **shape)
    if busy is not None:
        log(f"(the machine was busy while measuring: {busy}; not remembered, the next run measures again)")
        return tp
    known[key] = tp.as_dict()
    try:
        write_json(path, known)
    except OSError:
        pass
    return tp

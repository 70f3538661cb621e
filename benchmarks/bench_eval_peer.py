"""needlework's evaluation engine vs llama.cpp on the same CPU, the same kv-retrieval prompts and the same model.

    .venv/bin/python benchmarks/bench_eval_peer.py [--n 8] [--num-dict 18] [--threads 2] [--precision auto]
    .venv/bin/python benchmarks/bench_eval_peer.py --smoke      # tiny sizes, seconds: the suite runs this

The prompts are the cpu-demo's kv-retrieval items (simple KV with the answer template, sent through SmolLM2's chat
template) at one length (`--num-dict`, default 18 dictionaries: ~880 prompt tokens) and the demo's three gold
depths, `--n` per depth (default 8: 24 prompts). Both sides get the very same token ids (rendered once by
needlework's renderer) and decode greedily up to the same max new tokens with the same stop strings:

- needlework: HFBackend as `needlework eval` builds it (the continuous engine, eval batch 16, the preset's
  precision policy: bf16 where the CPU has it natively and it measures faster, else fp32), on the bundled SmolLM2
  dequantised to safetensors;
- llama.cpp:  llama-cpp-python's `Llama` on the bundled Q4_1 GGUF itself (the file the safetensors come from),
  one prompt at a time (it keeps the KV cache of the longest prefix shared with the previous prompt, as the
  continuous engine shares prefixes), `--threads` threads for prompt and generation.

Printed: prompt tokens/s and s/prompt of each after a warm-up, the ratio (llama.cpp's time over needlework's:
above 1 means needlework is faster), llama.cpp's system info (which SIMD paths its build uses), and how many
completions are identical (whitespace-trimmed). Q4_1 arithmetic in llama.cpp and dequantised weights in torch
can part in a late token, so "identical" is a count, not a requirement. The machine is shared: report `uptime`.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODEL = "smollm2-135m-instruct"


def kv_items(n: int, num_dict: int, max_new_tokens: int, preset: str = "cpu-demo"):
    """The preset's kv-retrieval items at one length: n per gold depth."""
    from needlework.evals.registry import get_benchmark
    from needlework.pipeline.presets import load_preset
    rc = load_preset(preset, [f"eval.kv_retrieval.n={n}", f"eval.kv_retrieval.num_dicts=[{num_dict}]",
                              f"eval.kv_retrieval.max_new_tokens={max_new_tokens}"])
    cfg = rc.eval_for(MODEL, "unused")
    bench = get_benchmark("kv-retrieval")
    return rc, bench.build(cfg.kv_retrieval, cfg.seed)


def run_needlework(backend, reqs) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    outs = backend.generate(reqs)
    return time.perf_counter() - t0, [o.text for o in outs]


def run_llama(llm, ids: list[list[int]], reqs) -> tuple[float, list[str]]:
    texts = []
    t0 = time.perf_counter()
    for toks, r in zip(ids, reqs):
        out = llm.create_completion(prompt=toks, max_tokens=r.max_new_tokens, temperature=0.0, top_k=1,
                                    stop=list(r.stop) or None)
        texts.append(out["choices"][0]["text"])
    return time.perf_counter() - t0, texts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8, help="prompts per gold depth (3 depths)")
    ap.add_argument("--num-dict", type=int, default=18, help="dictionaries per prompt (18: ~880 tokens)")
    ap.add_argument("--max-new-tokens", type=int, default=32, help="the cpu-demo's kv-retrieval setting")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default=None, choices=["auto", "bf16", "fp32"], help="needlework's; default: preset's")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (1 prompt per depth, 2 dictionaries, 4 tokens)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.n, args.num_dict, args.max_new_tokens = 1, 2, 4
    try:
        from llama_cpp import Llama, llama_print_system_info
    except ImportError:
        print("llama-cpp-python is not installed (bash scripts/setup.sh --tests builds it); nothing to compare")
        return 2

    import torch
    torch.set_num_threads(args.threads)
    from needlework.backends.hf import HFBackend
    from needlework.models import gguf_path

    rc, items = kv_items(args.n, args.num_dict, args.max_new_tokens)
    reqs = [it.request for it in items]
    precision = args.precision or rc.precision
    ours = HFBackend(MODEL, batch_size=rc.eval.batch_size, precision=precision, progress=False,
                     chat_template=rc.backend.chat_template, max_padding=rc.backend.hf.max_padding)
    ids = [ours.renderer.token_ids(r) for r in reqs]
    gguf = gguf_path(MODEL)
    llm = Llama(model_path=str(gguf), n_ctx=max(map(len, ids)) + args.max_new_tokens + 16, n_threads=args.threads,
                n_threads_batch=args.threads, n_batch=512, seed=0, verbose=False)
    from needlework.backends import Request
    warm = [Request(prompt="Warm up the kernels " * 20, max_new_tokens=4)] * 2   # one-time set-up is not measured
    ours.generate(warm)
    run_llama(llm, [ours.renderer.token_ids(r) for r in warm], warm)

    n_tok = sum(map(len, ids))
    t_ours, out_ours = run_needlework(ours, reqs)
    t_llama, out_llama = run_llama(llm, ids, reqs)
    same = sum(a.strip() == b.strip() for a, b in zip(out_ours, out_llama))
    info = llama_print_system_info()
    info = info.decode() if isinstance(info, bytes) else str(info)
    print(f"{len(reqs)} kv-retrieval prompts ({args.num_dict} dictionaries, {n_tok} prompt tokens, mean "
          f"{n_tok / len(reqs):.0f}), greedy, max {args.max_new_tokens} new tokens, {args.threads} threads")
    print(f"  needlework {ours.precision['dtype']:>5s} ({ours.engine} engine, batch {rc.eval.batch_size}): "
          f"{t_ours:7.1f} s  {t_ours / len(reqs):6.2f} s/prompt  {n_tok / t_ours:7.1f} prompt tok/s")
    print(f"  llama.cpp  {gguf.name} (one prompt at a time): {t_llama:7.1f} s  {t_llama / len(reqs):6.2f} "
          f"s/prompt  {n_tok / t_llama:7.1f} prompt tok/s")
    print(f"  llama.cpp / needlework time: {t_llama / t_ours:.2f} (above 1: needlework is faster)")
    print(f"  identical completions: {same} of {len(reqs)}")
    print(f"  llama.cpp system info: {info.strip()}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

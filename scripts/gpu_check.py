"""The GPU check: what a GPU run depends on, in under 10 minutes on one GPU, offline, from the repository alone.

    bash scripts/gpu_check.sh            # on a GPU machine (the `device` tool runs it; see DEVELOPERS.md)
    bash scripts/gpu_check.sh --cpu      # tiny shapes on the CPU: the same code path, seconds (in the test suite)

Everything is built here, nothing is downloaded: a byte-level BPE tokenizer trained on the packaged essays (with
a ChatML chat template), random Mistral-shaped models from a config (GQA; one with a sliding window, one
without), simple-KV training data at an exact token budget of that tokenizer. Then, each printed as one line
`PASS|FAIL|SKIP <check>: <figure>`:

  train       attention-only training, bf16 and gradient checkpointing on a GPU: s/step and peak memory
  resume      a run killed after its first checkpoint and resumed ends with the uninterrupted run's weights
  fsdp        the same training under the FSDP accelerate config, one process (GPU only)
  eval-*      kv-retrieval and MDQA at each length with both engines (continuous, static), each model: s/prompt,
              and whether the two engines' greedy completions are identical (the sliding-window model runs
              the continuous engine too: a fallback to static fails the check)

The summary is written to <out>/gpu_check.json. Exit status 1 when any check failed.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

SHAPES = {  # gpu: Mistral-7B's attention layout at 8 layers and width 2048; cpu: the same code, tiny
    "gpu": dict(hidden=2048, layers=8, heads=16, kv_heads=4, inter=5632, vocab=8000, window=4096,
                train_tokens=16384, eval_tokens=[8192, 16384], steps=6, n=2, docs={8192: 55, 16384: 110}),
    "cpu": dict(hidden=64, layers=2, heads=4, kv_heads=2, inter=128, vocab=600, window=96,
                train_tokens=320, eval_tokens=[300, 500], steps=4, n=1, docs={300: 2, 500: 3}),
}
RESULTS: list[dict] = []


TERMINAL = sys.stdout   # the checks' own lines; what the stages print goes to <out>/gpu_check.log


def report(name: str, status: str, figure: str) -> None:
    RESULTS.append({"check": name, "status": status, "figure": figure})
    print(f"{status} {name}: {figure}", file=TERMINAL, flush=True)


def tokenizer(out: Path, vocab: int) -> Path:
    """A byte-level BPE trained on the packaged essays, with ChatML turns (as SmolLM2 and many chat models)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from needlework.real_data import load_essays
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok.train_from_iterator([load_essays()], trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")
    fast.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    fast.save_pretrained(out)
    return out


def model(out: Path, tok_dir: Path, s: dict, window: int | None) -> Path:
    import torch
    from transformers import AutoTokenizer, MistralConfig, MistralForCausalLM
    tok = AutoTokenizer.from_pretrained(tok_dir)
    cfg = MistralConfig(vocab_size=len(tok), hidden_size=s["hidden"], intermediate_size=s["inter"],
                        num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
                        num_key_value_heads=s["kv_heads"], max_position_embeddings=4 * max(s["eval_tokens"]),
                        sliding_window=window, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                        pad_token_id=tok.pad_token_id, tie_word_embeddings=False)
    torch.manual_seed(0)
    MistralForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def data(out: Path, tok_dir: Path, s: dict) -> Path:
    from needlework.tasks.files.dataset import GenerateConfig, generate_file
    cfg = GenerateConfig(task="simple_kv", n=s["steps"] + 2, out=str(out), tokenizer=str(tok_dir), chat_template=True,
                         params={"num_dict": None, "target_tokens": s["train_tokens"], "template": True})
    return generate_file(cfg, progress=False)


def train_config(model_dir: Path, data_file: Path, out: Path, s: dict, gpu: bool, resume: bool = False):
    from needlework.train import TrainConfig
    return TrainConfig(model=str(model_dir), data=[str(data_file)], out=str(out), params="attention", lr=1e-4,
                       lr_scheduler="constant", warmup_ratio=0.0, max_steps=s["steps"], global_batch=1, batch_size=1,
                       precision="bf16" if gpu else "fp32", gradient_checkpointing=True,
                       max_length=s["train_tokens"] + 512, save_steps=2, save_total_limit=2, progress=False, seed=0,
                       resume=resume)


def check_train(model_dir: Path, data_file: Path, root: Path, s: dict, gpu: bool) -> Path:
    import torch

    from needlework.train import run_training
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    out = run_training(train_config(model_dir, data_file, root / "train", s, gpu))
    per_step = (time.perf_counter() - t0) / s["steps"]
    peak = f", peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if gpu else ""
    report("train", "PASS", f"{s['steps']} steps at {s['train_tokens']:,} tokens, {per_step:.2f} s/step "
                            f"(load and save included){peak}")
    return out


def _train_process(cfg_json: str) -> subprocess.Popen:
    code = ("import json,sys; from needlework.config import from_dict; from needlework.train import TrainConfig, "
            "run_training; run_training(from_dict(TrainConfig, json.loads(sys.argv[1])))")
    return subprocess.Popen([sys.executable, "-c", code, cfg_json], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def check_resume(model_dir: Path, data_file: Path, root: Path, s: dict, gpu: bool, reference: Path) -> None:
    import dataclasses

    from safetensors.torch import load_file

    from needlework.train import run_training
    cfg = train_config(model_dir, data_file, root / "resumed", s, gpu)
    proc = _train_process(json.dumps(dataclasses.asdict(cfg)))
    first = root / "resumed" / "checkpoints" / "checkpoint-2" / "trainer_state.json"
    while proc.poll() is None and not first.exists():
        time.sleep(0.2)
    if proc.poll() is not None:
        raise RuntimeError(f"training ended (rc {proc.returncode}) before its first checkpoint")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_training(train_config(model_dir, data_file, root / "resumed", s, gpu, resume=True))
    a, b = load_file(reference / "model.safetensors"), load_file(root / "resumed" / "model.safetensors")
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    ok = diff == 0.0 or (gpu and diff < 1e-3)   # GPU kernels need not be bitwise deterministic
    report("resume", "PASS" if ok else "FAIL", f"killed after checkpoint-2, resumed: max |weight diff| {diff:.2e} "
                                               "vs the uninterrupted run")


def check_fsdp(model_dir: Path, data_file: Path, root: Path, s: dict, gpu: bool) -> None:
    if not gpu:
        report("fsdp", "SKIP", "needs a GPU")
        return
    cfg = train_config(model_dir, data_file, root / "fsdp", s, gpu)
    fsdp = Path(__file__).resolve().parent.parent / "needlework" / "presets" / "accelerate" / "fsdp.yaml"
    overrides = [f"{k}={v}" for k, v in (("model", cfg.model), ("data", f"[{cfg.data[0]}]"), ("out", cfg.out),
                                         ("params", "attention"),
                                         ("max_steps", cfg.max_steps), ("global_batch", 1), ("batch_size", 1),
                                         ("gradient_checkpointing", "true"), ("max_length", cfg.max_length),
                                         ("progress", "false"), ("lr", cfg.lr))]
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(fsdp),
                        "--num_processes", "1", "-m", "needlework.cli", "train", *overrides],
                       capture_output=True, text=True)
    ok = r.returncode == 0 and (Path(cfg.out) / "model.safetensors").exists()
    report("fsdp", "PASS" if ok else "FAIL", f"{time.perf_counter() - t0:.0f} s" if ok else r.stderr[-400:])


def check_eval(model_dir: Path, tok_dir: Path, root: Path, s: dict, label: str) -> None:
    from needlework.backends.hf_continuous import supports_continuous
    from needlework.config import from_dict
    from needlework.evals.runner import EvalConfig, run_eval
    from needlework.io import read_jsonl
    from needlework.models import load_causal_lm
    # the continuous engine drives full-attention and sliding-window models alike (no fallback to static)
    if not supports_continuous(load_causal_lm(str(model_dir))):
        report(f"eval-{label}-continuous-engine", "FAIL", "the continuous engine would fall back to static")
        return
    ran = {"continuous": "continuous", "static": "static"}
    for tokens in s["eval_tokens"]:
        outputs = {}
        for engine in ("continuous", "static"):
            cfg = from_dict(EvalConfig, {
                "model": str(model_dir), "out": str(root / f"eval-{label}-{tokens}-{engine}"), "batch_size": 4,
                "benchmarks": ["kv-retrieval", "mdqa"],
                "kv_retrieval": {"n": s["n"], "positions": [1], "target_tokens": [tokens], "tokenizer": str(tok_dir),
                                 "chat_template": True, "depths": [0.0], "max_new_tokens": 16},
                "mdqa": {"k": s["docs"][tokens], "n": s["n"], "positions": [1], "max_new_tokens": 16},
                "backend": {"kind": "hf", "hf": {"engine": engine, "batch_size": 4}, "progress": False}})
            t0 = time.perf_counter()
            out = run_eval(cfg)
            rows = list(read_jsonl(out / "samples.jsonl"))
            outputs[engine] = [r["output"] for r in rows]
            seconds = (time.perf_counter() - t0) / max(len(rows), 1)
            report(f"eval-{label}-{tokens}-{engine}", "PASS",
                   f"{len(rows)} prompts, {seconds:.2f} s/prompt (ran: {ran[engine]})")
        same = outputs["continuous"] == outputs["static"]
        report(f"eval-{label}-{tokens}-engines-agree", "PASS" if same else "FAIL",
               f"{sum(a == b for a, b in zip(*outputs.values()))}/{len(outputs['static'])} completions identical")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="tiny shapes on the CPU (the test suite's dry mode)")
    ap.add_argument("--out", default=os.environ.get("OUT") or "runs/gpu-check", help="work and summary folder")
    args = ap.parse_args(argv)
    import torch
    gpu = not args.cpu
    if gpu and not torch.cuda.is_available():
        print("gpu_check: no GPU visible; use --cpu for the dry mode", file=sys.stderr)
        return 2
    s, root = SHAPES["gpu" if gpu else "cpu"], Path(args.out)
    if (root / "work").exists():   # every check starts from nothing: a finished run would be skipped, not timed
        shutil.rmtree(root / "work")
    (root / "work").mkdir(parents=True)
    t0 = time.perf_counter()
    with open(root / "gpu_check.log", "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        run_checks(root / "work", s, gpu)
    summary = {"device": torch.cuda.get_device_name() if gpu else "cpu", "seconds": round(time.perf_counter() - t0),
               "results": RESULTS}
    (root / "gpu_check.json").write_text(json.dumps(summary, indent=2) + "\n")
    failed = [r for r in RESULTS if r["status"] == "FAIL"]
    print(f"gpu_check: {len(RESULTS) - len(failed)} of {len(RESULTS)} checks passed or skipped in "
          f"{summary['seconds']} s; summary {root / 'gpu_check.json'}, log {root / 'gpu_check.log'}")
    return 1 if failed else 0


def run_checks(root: Path, s: dict, gpu: bool) -> None:
    try:
        tok = tokenizer(root / "tokenizer", s["vocab"])
        plain, windowed = model(root / "model", tok, s, None), model(root / "model-sw", tok, s, s["window"])
        data_file = data(root / "train.jsonl", tok, s)
        report("build", "PASS", f"tokenizer ({s['vocab']} BPE), Mistral-shaped {s['layers']} layers x {s['hidden']}, "
                                f"{s['heads']}/{s['kv_heads']} heads, window {s['window']}; {data_file.name}")
        reference = check_train(plain, data_file, root, s, gpu)
        for name, fn in (("resume", lambda: check_resume(plain, data_file, root, s, gpu, reference)),
                         ("fsdp", lambda: check_fsdp(plain, data_file, root, s, gpu)),
                         ("eval", lambda: check_eval(plain, tok, root, s, "full-attention")),
                         ("eval-sw", lambda: check_eval(windowed, tok, root, s, "sliding-window"))):
            try:
                fn()
            except Exception as e:   # one failing check must not hide the others
                report(name, "FAIL", f"{type(e).__name__}: {e}".replace("\n", " ")[:400])
                traceback.print_exc(file=sys.stderr)
    except Exception as e:
        report("build", "FAIL", f"{type(e).__name__}: {e}".replace("\n", " ")[:400])
        traceback.print_exc(file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

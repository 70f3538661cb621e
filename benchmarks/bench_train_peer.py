"""`needlework train` vs TRL's SFTTrainer: the same data, model, trainable parameters and schedule; wall time and
held-out exact value accuracy after training.

    .venv/bin/python benchmarks/bench_train_peer.py [--steps 12] [--rows 240] [--held-out 16] [--warmup 0.05]
    .venv/bin/python benchmarks/bench_train_peer.py --smoke     # tiny sizes, seconds: the suite runs this

Data: the cpu-demo's training samples (simple KV with the answer template, 6 dictionaries, SmolLM2's chat
template), `--rows` trained on and the next `--held-out` never trained on. Both sides train the bundled
SmolLM2-135M-Instruct with completion-only loss (the answer tokens alone), the attention projections only
(needlework's `attention` policy applied to both models), AdamW at `--lr` with a linear schedule and the SAME
warm-up (`--warmup`: a fraction of the steps, as transformers reads a warmup_steps below 1; the issue's first
comparison warmed needlework up and TRL not, which costs needlework learning in a 12-step run), batch `--batch`
with no accumulation, `--steps` optimizer steps, weight decay 0, gradient clipping 1.0, seed 0 (the same data
order: both use the Trainer's sampler with the same seed), and the same precision (`--precision auto`: bf16
autocast where the CPU has it natively and it measures faster; the choice is needlework.precision's, made once).

Printed per side: the settings it ran with, the learning rate it logged at each step (so the schedules can be
seen to match), wall time (needlework: `run_training` whole, model loading and saving included; TRL: set-up +
`train()`, and `train()` alone) and, for the base model and each trained one, the held-out exact value accuracy
(needlework.train.early_stop.heldout_scores: every token of the gold value is the argmax under teacher forcing,
which is greedy exact match on the value) and answer-token loss. Nothing is asserted: it is a measurement.
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
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODEL = "smollm2-135m-instruct"


def trl_version() -> str | None:
    """TRL's version where it imports with this transformers, else None (then the script says why and stops)."""
    try:
        import trl
        from trl import SFTConfig, SFTTrainer  # noqa: F401  (the classes this script needs)
        return trl.__version__
    except Exception as e:   # not installed, or incompatible with the installed transformers / torch
        print(f"TRL is not usable here ({type(e).__name__}: {str(e)[:200]}); `pip install -e .[dev]` installs the "
              "pinned version that works with this transformers (constraints.txt)")
        return None


def make_data(folder: Path, rows: int, held_out: int, num_dict: int) -> tuple[Path, list[dict]]:
    """The cpu-demo's data settings: a training file of `rows` rows and `held_out` further rows."""
    from needlework.pipeline.presets import load_preset
    from needlework.tasks.files.dataset import generate_file
    from needlework.train.batches import read_rows
    rc = load_preset("cpu-demo", [f"data.n={rows + held_out}", f"data.params.num_dict={num_dict}"])
    every = folder / "all.jsonl"
    generate_file(rc.data_for(rc.arm, 0, out=str(every)), progress=False)
    lines = every.read_text().splitlines(keepends=True)
    train = folder / "train.jsonl"
    train.write_text("".join(lines[:rows]))
    held = read_rows([str(every)])[rows:]
    return train, held


def lr_by_step(history: list[dict]) -> list[float]:
    return [r["lr"] if "lr" in r else r["learning_rate"] for r in history
            if ("lr" in r or "learning_rate" in r) and "loss" in r]


def run_needlework(a, train: Path, out: Path, bf16: bool) -> tuple[float, Path, list[float]]:
    from needlework.io import read_jsonl
    from needlework.train import TrainConfig, run_training
    cfg = TrainConfig(model=MODEL, data=[str(train)], out=str(out), recipe="small", params="attention", lr=a.lr,
                      global_batch=a.batch, batch_size=a.batch, max_steps=a.steps, warmup_ratio=a.warmup,
                      lr_scheduler="linear", precision="bf16" if bf16 else "fp32", max_length=2048, save_steps=10_000, progress=False,
                      num_threads=a.threads, seed=0)
    t0 = time.perf_counter()
    run_training(cfg)
    return time.perf_counter() - t0, out, lr_by_step(list(read_jsonl(out / "train_log.jsonl")))


def run_trl(a, train: Path, out: Path, bf16: bool):
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from needlework.models import load_causal_lm, load_tokenizer, resolve_model_path
    from needlework.train.batches import read_rows
    from needlework.train.config import LoraConfig
    from needlework.train.params import apply_policy
    t0 = time.perf_counter()
    path = resolve_model_path(MODEL)
    tok = load_tokenizer(path)
    rows = [{"prompt": ([{"role": "system", "content": r["system"]}] if r["system"] else [])
             + [{"role": "user", "content": r["prompt"]}],
             "completion": [{"role": "assistant", "content": r["answer"]}]} for r in read_rows([str(train)])]
    torch.manual_seed(0)
    model = apply_policy(load_causal_lm(path), "attention", LoraConfig())
    args = SFTConfig(output_dir=str(out), completion_only_loss=True, packing=False, max_length=2048,
                     per_device_train_batch_size=a.batch, gradient_accumulation_steps=1, max_steps=a.steps,
                     learning_rate=a.lr, lr_scheduler_type="linear", warmup_steps=a.warmup, weight_decay=0.0,
                     max_grad_norm=1.0, seed=0, data_seed=0, bf16=bf16, use_cpu=True, save_strategy="no",
                     logging_steps=1, report_to="none", disable_tqdm=True, dataloader_num_workers=0,
                     dataloader_pin_memory=False)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok)
    from transformers.trainer_callback import PrinterCallback
    trainer.remove_callback(PrinterCallback)   # raw log dicts; the lr is read from the log history instead
    t1 = time.perf_counter()
    trainer.train()
    t2 = time.perf_counter()
    return t2 - t0, t2 - t1, trainer, tok, lr_by_step(trainer.state.log_history), args


def same_tokens(trainer, tok, train: Path) -> tuple[int, int]:
    """Rows whose tokens and loss positions are identical in TRL's processed dataset and needlework's encoding:
    the check that both train on the same thing."""
    from needlework.train.batches import EncodedDataset, read_rows
    from needlework.train.masking import IGNORE
    ours = EncodedDataset(read_rows([str(train)]), tok, "auto", 2048)
    same = 0
    for mine, theirs in zip(ours.items, trainer.train_dataset):
        loss_at = [i for i, x in enumerate(mine["labels"]) if x != IGNORE]
        mask = theirs["completion_mask"] if "completion_mask" in theirs else [x != IGNORE for x in theirs["labels"]]
        theirs_at = [i for i, m in enumerate(mask) if m]
        same += list(mine["input_ids"]) == list(theirs["input_ids"]) and loss_at == theirs_at
    return same, len(ours)


def held_out_scores(model, tok, held: list[dict], bf16: bool) -> dict:
    from needlework.train.batches import pad_id
    from needlework.train.early_stop import heldout_batches, heldout_scores
    batches = heldout_batches(held, tok, "auto", 2048, 8, pad_id(tok))
    return heldout_scores(model, batches, autocast_bf16=bf16)


def fmt(s: dict) -> str:
    return f"held-out value exact {s.get('heldout_value_exact', float('nan')):.3f}, answer loss {s['heldout_loss']:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--rows", type=int, default=240, help="training rows (the issue's comparison: 240)")
    ap.add_argument("--held-out", type=int, default=16)
    ap.add_argument("--num-dict", type=int, default=6, help="dictionaries per sample (the cpu-demo's 6)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4, help="the cpu-demo's")
    ap.add_argument("--warmup", type=float, default=0.05, help="warm-up for BOTH sides: a fraction (< 1) of the "
                    "steps or a step count; the small recipe's 0.05")
    ap.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: 1 step, 4 rows, 2 held out, 2 dictionaries")
    a = ap.parse_args(argv)
    if a.smoke:
        a.steps, a.rows, a.held_out, a.num_dict, a.batch = 1, 4, 2, 2, 2
    version = trl_version()
    if version is None:
        return 0
    import torch
    torch.set_num_threads(a.threads)
    from needlework.models import load_causal_lm, load_tokenizer, resolve_model_path
    from needlework.precision import resolve
    bf16 = resolve(a.precision, "cpu").bf16

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train, held = make_data(tmp, a.rows, a.held_out, a.num_dict)
        path = resolve_model_path(MODEL)
        tok = load_tokenizer(path)
        base = held_out_scores(load_causal_lm(path), tok, held, bf16)
        t_nw, nw_out, nw_lr = run_needlework(a, train, tmp / "needlework", bf16)
        nw = held_out_scores(load_causal_lm(str(nw_out)), tok, held, bf16)
        t_trl, t_trl_train, trainer, trl_tok, trl_lr, trl_args = run_trl(a, train, tmp / "trl", bf16)
        trl = held_out_scores(trainer.model, trl_tok, held, bf16)
        same, n_rows = same_tokens(trainer, tok, train)

    shared = (f"{a.rows} rows, {a.held_out} held out, {a.num_dict} dictionaries; attention projections only; "
              f"{a.steps} steps x batch {a.batch}; lr {a.lr:g}, linear, warm-up {a.warmup:g}; weight decay 0, "
              f"clip 1.0; {'bf16 autocast' if bf16 else 'fp32'}; {a.threads} threads")
    print(f"same settings for both: {shared}")
    print(f"  needlework: run_training, recipe small (answer-only loss, left-padded batches)")
    print(f"  TRL {version}: SFTTrainer, completion_only_loss=True, warmup_steps={trl_args.warmup_steps:g}, "
          f"optim {getattr(trl_args.optim, 'value', trl_args.optim)} (the Trainer's default, as needlework's), "
          f"packing off")
    print(f"  rows with identical tokens and loss positions in both: {same} of {n_rows}")
    print(f"  lr by step, needlework: {', '.join(f'{x:.2e}' for x in nw_lr)}")
    print(f"  lr by step, TRL:        {', '.join(f'{x:.2e}' for x in trl_lr)}")
    print("  (as logged after each step; a linear warm-up starts at lr 0: with warm-up, step 1 changes nothing)")
    print(f"base model:  {fmt(base)}")
    print(f"needlework:  {t_nw:7.1f} s (run_training whole: load, train, save)   {fmt(nw)}")
    print(f"TRL:         {t_trl:7.1f} s (set-up + train(); train() alone {t_trl_train:.1f} s)   {fmt(trl)}")
    print(f"TRL / needlework time: {t_trl / t_nw:.2f} (above 1: needlework is faster)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

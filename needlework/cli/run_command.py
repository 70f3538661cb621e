"""`needlework run`: the whole pipeline from one config or preset, `--dry-run` plans, `--size` picks the fixed
item set (small | default | full) the preset defines."""
from __future__ import annotations

import argparse

from .options import flag_overrides, library_log


def load_run_args(config: str | None, preset: str | None, overrides: list[str]):
    """The run config `run` and `sweep` take from their arguments: a YAML file (on top of --preset when both are
    given), else the preset (default: cpu-demo); a first argument that is `key=value` is an override, not a file."""
    from ..pipeline import load_preset, load_run_config
    from ..pipeline.presets import DEFAULT
    overrides = list(overrides)
    if config is not None and "=" in config and not config.endswith((".yaml", ".yml")):
        overrides.insert(0, config)   # `needlework run key=value`: no config file, just overrides
        config = None
    if preset or config is None:
        return load_preset(preset or DEFAULT, overrides, config)
    return load_run_config(config, overrides)


def cmd_run(args) -> int:
    from ..pipeline import plan_text, run
    cfg = load_run_args(args.config, args.preset, flag_overrides(args, {"size": "size", "threads": "threads"}))
    from ..pipeline.run import run_root
    if args.dry_run:   # writes nothing under the run folder: the measurement's library lines go to a temp log
        import tempfile

        from ..pipeline.plan import refuse_untemplated_data
        refuse_untemplated_data(cfg)   # as run() does before any stage
        with tempfile.TemporaryDirectory() as tmp, library_log(args, tmp):
            text = plan_text(cfg, context=cfg.resolve_context(log=print))
        print(text)
        return 0
    with library_log(args, run_root(cfg)):
        root = run(cfg)
    from ..pipeline.summary import summary_text
    print(summary_text(root))
    return 0


class _BudgetRemoved(argparse.Action):
    """`--budget` is gone: one line naming what replaced it (argparse prints it as a usage error)."""

    def __call__(self, parser, namespace, values, option_string=None):
        raise argparse.ArgumentError(self, "was removed: a run's items no longer depend on this machine's speed; "
                                           "use --size small|default|full (a fixed item set) instead")


def add_run_parser(sub) -> None:
    p = sub.add_parser("run", help="generate -> evaluate base -> fine-tune -> evaluate -> report, from one config "
                                   "(default: the cpu-demo preset); finished stages are skipped, unfinished resume")
    p.add_argument("config", nargs="?", help="run config YAML (applied on top of --preset when both are given)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.lr=2e-4 eval.kv_retrieval.n=20")
    p.add_argument("--preset", help="a preset in needlework/presets/: cpu-demo, cpu-study, cpu-sweep, cpu-transfer, "
                                   "mistral-7b, gpt-3.5, mistral-7b-v0.2-24k")
    p.add_argument("--dry-run", action="store_true", help="print the resolved plan with token and time estimates")
    p.add_argument("--size", choices=["small", "default", "full"],
                   help="the fixed item set to evaluate (sets `size`; the preset's `sizes` say what each holds): the "
                        "same items on every machine; the plan warns, naming a smaller size, when it expects the "
                        "run to take longer than the preset's limit")
    p.add_argument("--threads", type=int, help="torch CPU threads for every stage (default: every core this "
                                               "process may use)")
    p.add_argument("--budget", action=_BudgetRemoved, help=argparse.SUPPRESS)
    p.add_argument("--verbose", "-v", action="store_true", help="library output on the terminal, not in logs/")
    p.set_defaults(func=cmd_run)

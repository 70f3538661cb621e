"""`needlework run`: the whole pipeline from one config or preset, `--dry-run` plans, and `--budget TIME`, which
sizes the evaluations to a wall time before anything runs."""
from __future__ import annotations

import argparse
import re

from .options import flag_overrides, library_log


def cmd_run(args) -> int:
    from ..pipeline import load_preset, load_run_config, plan_text, run
    from ..pipeline.presets import DEFAULT
    config, overrides = args.config, flag_overrides(args, {"budget": "estimate.budget_minutes"})
    strict = args.budget is not None   # the flag's budget refuses when too small; a config's runs at the minimum
    if strict:   # the flag is the budget whatever the precision
        overrides.append("estimate.budget_minutes_fp32=null")
    if config is not None and "=" in config and not config.endswith((".yaml", ".yml")):
        overrides.insert(0, config)   # `needlework run key=value`: no config file, just overrides
        config = None

    def load(extra: list[str]):
        if args.preset or config is None:
            return load_preset(args.preset or DEFAULT, overrides + extra, config)
        return load_run_config(config, overrides + extra)
    cfg = load([])
    from ..pipeline.run import run_root
    if args.dry_run:   # writes nothing under the run folder: the measurement's library lines go to a temp log
        import tempfile
        with tempfile.TemporaryDirectory() as tmp, library_log(args, tmp):
            text = plan_text(_sized_to_budget(cfg, load, strict))
        print(text)
        return 0
    with library_log(args, run_root(cfg)):
        root = run(_sized_to_budget(cfg, load, strict))
    from ..pipeline.summary import summary_text
    print(summary_text(root))
    return 0


def _sized_to_budget(cfg, load, strict: bool):
    """With estimate.budget_minutes[_fp32] (--budget): print what the budget buys and reload the config with the
    chosen evaluation sizes as ordinary overrides, so the resolved config saved with the run holds them."""
    if cfg.estimate.budget_minutes is None and cfg.estimate.budget_minutes_fp32 is None:
        return cfg
    from ..pipeline.budget import fit_to_budget
    extra, text = fit_to_budget(cfg, strict=strict)
    if text:
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


def add_run_parser(sub) -> None:
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

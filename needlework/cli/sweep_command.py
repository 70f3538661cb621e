"""`needlework sweep`: a run with several arms (and seeds) whose result is one table, the recipe's choice.

A sweep is an ordinary run (`needlework run` on the same config gives the same stages, so either resumes the
other); what the verb adds is the table it ends with: one row per arm, transfer first (each claim-2 benchmark's
change and their pooled estimate), the synthetic score, claim 3's guard and the time each arm took. The table
is printed and written next to the run as sweep.md and sweep.json. Evaluate a sweep on dev halves (e.g.
`eval.mdqa.split=dev`): a recipe chosen on eval halves has no honest number left to report.
"""
from __future__ import annotations


def cmd_sweep(args) -> int:
    from ..config import ConfigError
    from ..io import atomic_open, write_json
    from ..pipeline import run
    from ..pipeline.run import run_root
    from ..report.sweep_table import sweep_markdown, sweep_rows
    from ..pipeline.summary import latest_report
    from .options import flag_overrides, library_log
    from .run_command import load_run_args

    cfg = load_run_args(args.config, args.preset, flag_overrides(args, {"seeds": "seeds"}))   # as `run` reads them
    if not cfg.arms and len(cfg.seeds) < 2:
        raise ConfigError("needlework sweep: the config has no `arms:` and one seed: nothing to compare "
                          "(add arms, or --seeds 0,1,2; `needlework run` runs a single model)")
    with library_log(args, run_root(cfg)):
        root = run(cfg)
    rep = latest_report(root)
    rows = sweep_rows(rep, {cfg.arm: {}, **cfg.arms})
    table = sweep_markdown(rows)
    with atomic_open(root / "sweep.md") as f:
        f.write(table + "\n")
    write_json(root / "sweep.json", {"rows": rows, "seeds": cfg.seeds, "arms": {cfg.arm: {}, **cfg.arms}})
    print(f"\nsweep ({len(rows)} arms x {len(cfg.seeds)} seed(s)); choose on transfer, guard on claim 3:\n{table}")
    print(f"\nsweep table: {root / 'sweep.md'} (rows: sweep.json); report: {root / 'report.html'}")
    return 0


def _seeds(value: str) -> list[int]:
    import argparse
    try:
        seeds = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a comma-separated list of seeds such as 0,1,2")
    if not seeds or any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"{value!r}: seeds are non-negative integers, at least one")
    return seeds


def add_sweep_parser(sub) -> None:
    p = sub.add_parser("sweep", help="a run over arms x seeds ending in one table per arm (transfer, synthetic "
                                     "score, claim-3 guard, time); resumable like run")
    p.add_argument("config", nargs="?", help="run config YAML with `arms:` (on top of --preset when both are given; "
                                             "default: the cpu-demo preset), or a first key=value override, as for run")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. eval.mdqa.split=dev")
    p.add_argument("--preset", help="a preset in needlework/presets/ (e.g. cpu-sweep)")
    p.add_argument("--seeds", type=_seeds, metavar="0,1,2", help="training seeds (sets `seeds`)")
    p.add_argument("--verbose", "-v", action="store_true", help="library output on the terminal, not in logs/")
    p.set_defaults(func=cmd_sweep)

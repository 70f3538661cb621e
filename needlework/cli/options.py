"""What every family of commands shares: the `--config` + `key=value` arguments, the one path from flags to
config overrides, comma-separated list flags, and where library output goes. Kept apart from the package's
`__init__` so the command modules import it without an import loop."""
from __future__ import annotations

import argparse
import json
import os


def add_config_args(p: argparse.ArgumentParser) -> None:
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


def configured_run(args, config_cls, flags: dict[str, str], run):
    """A stage command's one shape: flags and `key=value`s over `--config` into a checked config, then `run` on
    it with library output sent to the output folder's log. Returns what `run` returned."""
    from ..config import load_config, refuse_overlap
    cfg = load_config(config_cls, args.config, flag_overrides(args, flags))
    if isinstance(getattr(cfg, "out", None), str):   # `out: ~/x` is the home folder's, not a folder named ~
        cfg.out = os.path.expanduser(cfg.out)
    refuse_overlap("out", cfg.out, {"--config": args.config})
    with library_log(args, cfg.out):
        return run(cfg)


def comma_list(value: str) -> list[str]:
    return [b.strip() for b in value.split(",") if b.strip()]


def library_log(args, folder):
    """What transformers, datasets and lm-eval print goes to <folder>/logs/libraries.log (needlework.logs);
    --verbose keeps it on the terminal."""
    from pathlib import Path

    from ..logs import third_party_to
    return third_party_to(Path(folder) / "logs" / "libraries.log", verbose=getattr(args, "verbose", False))

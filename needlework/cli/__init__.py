"""The command line. Only this module knows about argv; every command builds a config object and calls
the stage's Python entry point with it."""
# The docstring above is `needlework --help`'s description, so it reads as the command's, not the package's.
# Layout: options.py (flags -> overrides, shared arguments), one module per family of commands (data_commands,
# eval_commands, train_commands, run_command); here the parser that joins them, and main's error handling.
from __future__ import annotations

import argparse
import errno
import os
import re
import sys

from ..backends.base import BackendError
from ..config import ConfigError, redact_text
from ..io import FolderBusy, JSONLError
from ..models import ModelNotAvailable
from ..tasks.base import BudgetExceeded
from ..tasks.base import Invalid
from ..tasks.files.formats import RowError
from ..train.masking import MaskingError
from .config_command import add_config_parser
from .data_commands import add_data_fetch_parser, add_task_parsers
from .eval_commands import add_eval_parsers
from .options import flag_overrides
from .run_command import add_run_parser
from .sweep_command import add_sweep_parser
from .train_commands import add_train_parsers

# Names used from outside as `needlework.cli.<name>` (entry point, tests, scripts, DEVELOPERS.md).
__all__ = ["USER_ERRORS", "build_parser", "flag_overrides", "main"]

# What a user can cause (a bad setting, a missing or malformed file, an unreachable model or server): each
# ends in one `needlework: error:` line. Anything else is a bug and keeps its traceback.
USER_ERRORS = (ConfigError, FileNotFoundError, JSONLError, RowError, MaskingError, BudgetExceeded,
               ModelNotAvailable, FolderBusy, Invalid)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="needlework", description=__doc__)
    sub = parser.add_subparsers(dest="command")

    add_task_parsers(sub)    # generate, tasks, show, validate
    add_eval_parsers(sub)    # eval, compare
    add_data_fetch_parser(sub)   # data fetch
    add_train_parsers(sub)   # train, models, loss-map, heads
    add_run_parser(sub)      # run (pipeline)
    add_sweep_parser(sub)    # sweep (a run over arms x seeds, one table)
    add_config_parser(sub)   # config show (the settings, their types, defaults and help)
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
        print(f"needlework: error: {redact_text(str(e))}", file=sys.stderr)
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
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT):
            where = str(e.filename or "the output location")
            if os.path.basename(where).startswith(".") and where.endswith(".tmp"):   # io.atomic_path's temp file
                where = os.path.dirname(where) or "."
            print(f"needlework: error: {where}: {e.strerror} (choose a writable output location)", file=sys.stderr)
            return 2
        raise
    except BackendError as e:   # a model or server that fails while running: kept apart, exit 3 as before
        _end_bars()
        print(f"needlework: error: {redact_text(str(e))}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        _end_bars()
        print(f"needlework: interrupted; {_AFTER_INTERRUPT.get(args.func.__name__, _NOTHING_KEPT)}", file=sys.stderr)
        return 130
    except Exception as e:   # a library's own error around a full disk (SafetensorError, torch.save's RuntimeError)
        full = any(w in str(e) for w in ("os error 28", "No space left", "PytorchStreamWriter failed writing"))
        if type(e).__name__ not in ("SafetensorError", "RuntimeError") or not full:
            raise
        _end_bars()
        print("needlework: error: the disk is full (while saving weights); finished work is kept, free space and "
              "re-run to resume (with --resume for `needlework train`)", file=sys.stderr)
        return 2

"""A terminal a person reads: what the libraries underneath print goes to a log file, not the terminal.

transformers ("Loading weights", "Writing model shards", GGUF de-quantising), datasets ("Generating validation
split"), huggingface_hub and lm-evaluation-harness ("Running loglikelihood requests", "Overwriting default
num_fewshot", ...) print progress bars and INFO lines between needlework's own. Inside `third_party_to(log)`
their progress bars are off, their log records go to the log file (only errors still reach the terminal; the
warnings a user must see are needlework's own: precision, a slower machine than promised, skipped items), and `captured()` (around lm-eval's evaluation, whose bars cannot be switched
off) sends whatever it prints to the same file. needlework's own progress bars and lines are untouched.
`verbose` leaves everything as it was (for debugging).
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterator

THIRD_PARTY = ("transformers", "datasets", "huggingface_hub", "lm_eval", "lm-eval", "accelerate", "peft",
               "filelock", "urllib3", "httpx", "openai", "sqlitedict", "evaluate", "torch")
_current: Path | None = None     # the log file of the command running now (captured() writes there)


@contextlib.contextmanager
def third_party_to(log_file: str | Path, verbose: bool = False) -> Iterator[Path]:
    global _current
    path = Path(log_file)
    if verbose:
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    saved = []
    for name in THIRD_PARTY:
        lg = logging.getLogger(name)
        saved.append((lg, lg.level, [(h, h.level) for h in lg.handlers]))
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
        for h in lg.handlers:
            if h is not handler and isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                h.setLevel(logging.ERROR)   # the library's own console handler: errors only (the rest: the file)
    bars = _progress_bars(False)
    prev, _current = _current, path
    try:
        yield path
    finally:
        _current = prev
        _progress_bars(bars)
        for lg, level, handlers in saved:
            lg.removeHandler(handler)
            lg.setLevel(level)
            for h, lvl in handlers:
                h.setLevel(lvl)
        handler.close()


def _bar_switches():
    """(library, is_on, turn_on, turn_off) for each installed library that draws its own progress bars."""
    import importlib
    for lib, module, is_on, on, off in (
            ("transformers", "transformers.utils.logging", "is_progress_bar_enabled", "enable_progress_bar",
             "disable_progress_bar"),
            ("datasets", "datasets.utils.logging", "is_progress_bar_enabled", "enable_progress_bar",
             "disable_progress_bar"),
            ("huggingface_hub", "huggingface_hub.utils", "are_progress_bars_disabled", "enable_progress_bars",
             "disable_progress_bars")):
        try:
            m = importlib.import_module(module)
        except ImportError:
            continue
        enabled = getattr(m, is_on)
        yield lib, (lambda f=enabled, neg=lib == "huggingface_hub": not f() if neg else f()), getattr(m, on), \
            getattr(m, off)


def _progress_bars(on: bool | dict) -> dict:
    """Switch the libraries' own progress bars on or off (a dict: each as it was); returns what they were."""
    switches = list(_bar_switches())
    was = {lib: is_on() for lib, is_on, _, _ in switches}   # all read first: transformers' switch flips the hub's
    for lib, _, turn_on, turn_off in switches:
        (turn_on if (on if isinstance(on, bool) else on.get(lib, True)) else turn_off)()
    return was


@contextlib.contextmanager
def captured() -> Iterator[None]:
    """What a library writes to stdout/stderr inside this block goes to the current log file (lm-eval's tqdm
    bars and prints); without a current log file (a Python caller, --verbose) nothing changes."""
    if _current is None:
        yield
        return
    with open(_current, "a", encoding="utf-8") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        yield

"""A stage: one folder keyed by a hash of everything it depends on, finished only when `done.json` says so.

Rules that make re-runs safe:
- The key hashes the stage's own settings plus its inputs' keys, so changing an evaluation setting changes
  the eval and report keys only: data and training are found finished and skipped.
- `done.json` is written last, atomically, and only after every declared output has been checked to exist;
  it records each output's size. A stage counts as finished only if the marker's key matches and every
  output is still there at that size, so a crash, a kill or a full disk (the write raises, no marker) can
  never leave a stage that looks finished without its outputs.
- An unfinished folder is handed back to the stage's own code, which resumes (training checkpoints, the
  evaluation completion cache) or starts over (data generation is cheap and deterministic).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..io import DONE, read_done, write_done
from ..provenance import config_hash

__all__ = ["DONE", "Stage", "StageError", "execute", "is_done", "read_done", "status"]


class StageError(RuntimeError):
    """A stage returned without producing an output it promised."""


@dataclass
class Stage:
    kind: str                              # generate | train | eval | loss-map | heads | report
    label: str                             # e.g. "ft-s0", "base"
    identity: dict[str, Any]               # what the result depends on (settings + input stage keys)
    outputs: list[str]                     # paths relative to the stage folder that must exist when done
    run: Callable[[Path], None]            # writes the outputs into the folder
    deps: list["Stage"] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)   # estimates and notes for the plan
    optional_outputs: list[str] = field(default_factory=list)   # recorded when present (e.g. a loss curve)
    # work that proceeds elsewhere once begun (an OpenAI fine-tuning job): the run begins every such stage as
    # soon as its inputs exist, before waiting on any, and `run` later waits for its own
    start: Callable[[Path], None] | None = None

    @property
    def key(self) -> str:
        return config_hash({"stage": self.kind, **self.identity})

    def folder(self, root: Path) -> Path:
        return Path(root) / self.kind / f"{self.label}-{self.key}"

    @property
    def title(self) -> str:
        return f"{self.kind} {self.label}"


def is_done(stage: Stage, folder: Path) -> bool:
    mark = read_done(folder)
    if not mark or mark.get("key") != stage.key:
        return False
    for rel, size in mark.get("outputs", {}).items():
        p = folder / rel
        if not p.exists() or (size >= 0 and p.stat().st_size != size):
            return False
    return all(rel in mark.get("outputs", {}) for rel in stage.outputs)


def status(stage: Stage, folder: Path) -> str:
    if is_done(stage, folder):
        return "done"
    return "partial" if folder.exists() and any(folder.iterdir()) else "todo"


def _size(p: Path) -> int:
    return p.stat().st_size if p.is_file() else -1   # folders (a saved model): existence is checked


def execute(stage: Stage, root: Path, log: Callable[[str], None] = print, mark: bool = True) -> tuple[Path, bool]:
    """Run `stage` unless finished; returns (folder, ran). Writes the done marker only after checking outputs
    (`mark=False`: a secondary process of a distributed stage, which leaves the bookkeeping to rank 0)."""
    folder = stage.folder(root)
    if is_done(stage, folder):
        log(f"  {stage.title}: finished earlier, skipped ({folder})")
        return folder, False
    if mark:
        (folder / DONE).unlink(missing_ok=True)   # a stale marker (other key, lost output) must not survive
    folder.mkdir(parents=True, exist_ok=True)
    log(f"  {stage.title}: running -> {folder}")
    t0 = time.perf_counter()
    stage.run(folder)
    if not mark:
        return folder, True
    missing = [rel for rel in stage.outputs if not (folder / rel).exists()]
    if missing:
        raise StageError(f"{stage.title} finished without {', '.join(missing)} in {folder}")
    present = [rel for rel in stage.outputs + stage.optional_outputs if (folder / rel).exists()]
    seconds = round(time.perf_counter() - t0, 1)
    write_done(folder, stage.key, stage=stage.kind, label=stage.label, identity=stage.identity, seconds=seconds,
               outputs={rel: _size(folder / rel) for rel in present})
    log(f"  {stage.title}: done in {seconds:.0f} s")
    return folder, True

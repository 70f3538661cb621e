"""Copying needlework's scoring source into an exported folder, so lm-eval scores without needlework installed.

The files are copied verbatim into a package `needlework_scoring/` that mirrors needlework's layout, so their
relative imports (`from ..text import ...`) resolve inside the copy. The one file that imports more than it
scores with, tasks/kv/answers.py (it reads only the answer templates of simple_kv and multi_subkey_kv), gets
two small generated sibling modules holding exactly those templates instead of the generators.
"""
from __future__ import annotations

import inspect
from pathlib import Path

from ...io import atomic_open
from . import task_utils

PACKAGE = task_utils.PACKAGE
_ROOT = Path(__file__).resolve().parents[2]   # the needlework package folder
# needlework source -> its place in the copy (the same relative path)
_COPIED = ("text.py", "evals/metrics.py", "tasks/kv/answers.py")


def _template_module(module) -> str:
    """A module holding only what answers.py reads from `module`: its ANSWER template (and key_repr)."""
    lines = [f'"""Copied by needlework export lm-eval from {module.__name__}: the answer template only."""',
             f"ANSWER = {module.ANSWER!r}", ""]
    if hasattr(module, "key_repr"):
        lines += ["", inspect.getsource(module.key_repr)]
    return "\n".join(lines)


def write_scoring_package(folder: Path) -> list[Path]:
    """Writes utils.py and needlework_scoring/ into `folder`; returns the files written."""
    from ...tasks.kv import multi_subkey_kv, simple_kv

    files: dict[str, str] = {"utils.py": Path(task_utils.__file__).read_text(encoding="utf-8")}
    for rel in _COPIED:
        files[f"{PACKAGE}/{rel}"] = (_ROOT / rel).read_text(encoding="utf-8")
    files[f"{PACKAGE}/tasks/kv/simple_kv.py"] = _template_module(simple_kv)
    files[f"{PACKAGE}/tasks/kv/multi_subkey_kv.py"] = _template_module(multi_subkey_kv)
    for pkg in ("", "evals", "tasks", "tasks/kv"):
        files[f"{PACKAGE}/{pkg}/__init__.py".replace("//", "/")] = ""
    written = []
    for rel, text in sorted(files.items()):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path) as f:
            f.write(text)
        written.append(path)
    return written

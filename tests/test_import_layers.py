"""The package's layering (pyproject.toml [tool.importlinter]) holds: no upward import between layers and no
import loop inside any package. Checked offline with import-linter's Python API (the `lint-imports` command)."""
from __future__ import annotations

import tomllib
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_contracts_are_kept(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT))      # analyse this checkout's needlework, not an installed copy
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{len(_contracts())} kept, 0 broken" in out


def test_every_top_level_module_has_a_layer():
    """A new module outside the layer list would escape the contract silently."""
    layers = next(c for c in _contracts() if c["type"] == "layers")["layers"]
    named = {m.strip() for layer in layers for m in layer.replace(":", "|").split("|")}
    package = ROOT / "needlework"
    present = {f"needlework.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    present |= {f"needlework.{p.name}" for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert present <= named, f"not in any layer: {sorted(present - named)}"


def test_report_may_not_import_model_running_code():
    """The report renders what the stages wrote: it must not reach training, backends or the probes."""
    forbidden = [c for c in _contracts() if c["type"] == "forbidden" and c["source_modules"] == ["needlework.report"]]
    assert len(forbidden) == 1
    assert set(forbidden[0]["forbidden_modules"]) == {"needlework.train", "needlework.backends", "needlework.probes"}

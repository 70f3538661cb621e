"""Presets are the YAML files in the package's `presets/` folder: `--preset cpu-demo` is
`needlework/presets/cpu-demo.yaml`, so what a preset does is readable (and copyable) as a plain config file.
They are package data, so an installed wheel has them too."""
from __future__ import annotations

from pathlib import Path

from ..config import ConfigError
from .config import RunConfig, load_run_config

CONFIG_DIR = Path(__file__).resolve().parent.parent / "presets"
DEFAULT = "cpu-demo"


def preset_names() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    path = CONFIG_DIR / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(preset_names()) or 'none found'} "
                          f"(in {CONFIG_DIR})")
    return path


def load_preset(name: str, overrides: list[str] | None = None, config: str | Path | None = None) -> RunConfig:
    """The preset, then an optional YAML file on top of it, then key=value overrides."""
    from ..config import load_yaml
    return load_run_config(config, overrides, base=load_yaml(preset_path(name)))

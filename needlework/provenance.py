"""What produced an output: resolved config, seeds, package versions and git hash, saved beside it."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .io import to_jsonable, write_json

TRACKED_PACKAGES = ("needlework", "numpy", "tokenizers", "transformers", "torch", "accelerate", "peft", "trl",
                    "datasets", "openai", "lm_eval", "tiktoken", "sentencepiece")


def config_hash(obj: Any, length: int = 12) -> str:
    """Stable short hash of a config (dataclass or plain data): same settings, same hash."""
    blob = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def world_rank() -> tuple[int, int]:
    """(world size, rank) of this process under torchrun / accelerate launch; (1, 0) when run alone."""
    return int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))


def package_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            continue
    return out


def git_hash() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if rev.returncode != 0:
        return None
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def provenance(config: Any = None, **extra: Any) -> dict:
    from .config import redact_secrets
    return {
        "config": redact_secrets(to_jsonable(config)),
        "config_hash": config_hash(config) if config is not None else None,
        "versions": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git": git_hash(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv,
        **to_jsonable(extra),
    }


def save_provenance(path: str | Path, config: Any = None, **extra: Any) -> dict:
    info = provenance(config, **extra)
    write_json(path, info)
    return info

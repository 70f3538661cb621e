#!/usr/bin/env bash
# The GPU check (scripts/gpu_check.py says what it checks): one line per check, a JSON summary, exit 1 on a failure.
#   bash scripts/gpu_check.sh          on a GPU machine: ~10 minutes, offline, only files from this repository
#   bash scripts/gpu_check.sh --cpu    tiny shapes on the CPU, seconds (the test suite runs this)
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=${PYTHON:-python3}; fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" scripts/gpu_check.py "$@"

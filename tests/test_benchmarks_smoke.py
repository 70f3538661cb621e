"""Every script under benchmarks/ still runs (smoke sizes, the bundled SmolLM2, nothing timed or asserted about
speed): a README figure is only a claim while the command behind it runs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMOKE = {
    "bench_generate.py": ["--n", "20"],
    "bench_startup.py": ["--n", "2", "--repeat", "1"],
    "bench_train.py": ["--steps", "1", "--tokens", "300", "--policies", "attention"],
    "bench_eval.py": ["--n", "1", "--benchmarks", "kv-retrieval", "--precision", "fp32"],
    "profile_train_step.py": ["--steps", "1", "--precisions", "fp32"],
    "bench_eval_peer.py": ["--smoke", "--precision", "fp32"],
    "bench_train_peer.py": ["--smoke", "--precision", "fp32"],
    "bench_general.py": ["--tasks", "arc_easy", "--limit", "4", "--precision", "fp32"],
}
# The peer each compares with: without it the script cannot measure anything (both are in the `dev` / `server`
# set-up: `bash scripts/setup.sh --tests`).
PEER = {"bench_eval_peer.py": "llama_cpp", "bench_train_peer.py": "trl"}


def test_every_benchmark_script_has_a_smoke_case():
    assert {p.name for p in (ROOT / "benchmarks").glob("*.py")} == set(SMOKE)


@pytest.mark.integration
@pytest.mark.parametrize("script", sorted(SMOKE))
def test_benchmark_script_runs(script):
    if script in PEER:
        pytest.importorskip(PEER[script], reason=f"{script} compares with {PEER[script]}, which is not installed")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *SMOKE[script]], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert r.stdout.strip(), "a benchmark prints its figures"

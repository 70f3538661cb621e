"""The terminal of a whole `needlework run` (a tiny config with kv-retrieval, MDQA and an lm-eval task): no
library lines (harness, datasets, transformers' loading bars) between needlework's own, they are in
<run>/logs/libraries.log instead, and the run ends with the verdict table, the time per stage and the report."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from pipeline_helpers import mini_config

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from lm_eval_tasks import MC, write_task  # noqa: E402

LIBRARY_LINES = ("Running loglikelihood requests", "Loading weights", "Generating test split", "Tokenizing inputs",
                 "Checking cached requests", "Building contexts", "Writing model shards", "num_fewshot",
                 "Passed an already-initialized model", "Task: ", "it/s]")


def test_a_run_terminal_holds_needleworks_lines_and_ends_with_the_verdict(tiny_model_dir, tmp_path):
    tasks = write_task(tmp_path / "tasks", "needlework_tiny_mc",
                       [{"question": f"{a} and {a}?", "choices": [str(2 * a), str(a)], "label": 0} for a in range(4)],
                       **MC)
    cfg = mini_config(tiny_model_dir, tmp_path / "runs", **{
        "eval.benchmarks": ["kv-retrieval", "mdqa", "general"],
        "eval.general": {"tasks": ["needlework_tiny_mc"], "include_path": str(tasks), "model_args": "dtype=float32"}})
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "needlework.cli", "run", str(path)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    terminal = r.stdout + r.stderr
    assert not [x for x in LIBRARY_LINES if x in terminal], [x for x in LIBRARY_LINES if x in terminal]
    log = (tmp_path / "runs" / "mini" / "logs" / "libraries.log").read_text()
    assert "Running loglikelihood requests" in log
    tail = r.stdout[r.stdout.index("verdict (paired"):]
    assert "1. retrieval improves" in tail and "2. it transfers" in tail and "3. kept within ±0.02" in tail
    assert "time per stage (estimate before the run):" in tail and "report: " in tail
    assert r.stdout.rstrip().endswith("report.md")


def test_library_bars_are_restored_after_the_block(tmp_path):
    """Inside third_party_to the libraries' bars are off; afterwards each is as it was (transformers' switch also
    flips huggingface_hub's, so every state is read before any is changed)."""
    from needlework.logs import _progress_bars, third_party_to
    before = _progress_bars(True)
    with third_party_to(tmp_path / "lib.log"):
        assert not any(_progress_bars(False).values())
    assert all(_progress_bars(before).values())

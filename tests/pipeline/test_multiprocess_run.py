"""`needlework run` under a two-process launch (torchrun, gloo, CPU) with `general` in the evaluation finishes:
lm-eval is handed an already-loaded model on rank 0, so it never sets up its own distributed run and waits in
collectives for ranks that are not evaluating (issue 18: the README's 8-GPU command hung before training).
Evaluation is data-parallel: each rank generates its share, and the merged per-item rows are the
single-process run's, byte for byte."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml
from pipeline_helpers import mini_config

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from lm_eval_tasks import MC, write_task  # noqa: E402

DOCS = [{"question": f"{a} plus {b}?", "choices": [str(a + b), str(a + b + 1)], "label": 0}
        for a, b in ((1, 2), (3, 4), (2, 2))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_run_with_general_finishes(tiny_model_dir, tmp_path):
    tasks = write_task(tmp_path / "tasks", "needlework_tiny_mc", DOCS, **MC)
    cfg = mini_config(tiny_model_dir, tmp_path / "runs", **{
        "data.n": 4, "train.batch_size": 1, "eval.benchmarks": ["kv-retrieval", "general"], "report.loss_map": False,
        "eval.general": {"tasks": ["needlework_tiny_mc"], "include_path": str(tasks),
                         "model_args": "dtype=float32"}})
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "needlework.cli", "run", str(path)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    root = tmp_path / "runs" / "mini"
    assert (root / "report.html").exists()
    base = next((root / "eval").glob("base-*"))
    rows = [json.loads(x) for x in (base / "samples.jsonl").read_text().splitlines()]
    assert sum(r["benchmark"] == "general" for r in rows) == 3
    # each rank generated its half of the 6 kv-retrieval items, for both evaluations (base and fine-tuned)
    for r in (0, 1):
        assert proc.stderr.count(f"rank {r} generated its share: kv-retrieval 3") == 2, proc.stderr[-3000:]
    assert not list(base.glob("cache.rank*")) and not list(base.glob("rank*.filled"))
    single = tmp_path / "single"
    cfg["root"] = str(single)
    path.write_text(yaml.safe_dump(cfg))
    one = subprocess.run([sys.executable, "-m", "needlework.cli", "run", str(path)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=240)
    assert one.returncode == 0, one.stderr[-3000:]
    single_base = next((single / "mini" / "eval").glob("base-*"))
    assert (single_base / "samples.jsonl").read_bytes() == (base / "samples.jsonl").read_bytes()

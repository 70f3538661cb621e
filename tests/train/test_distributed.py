"""Two CPU processes (torchrun, gloo) on the tiny model: disjoint data per rank, same result as one process."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from train_helpers import tiny_kwargs

from needlework.train import TrainConfig, run_training

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_matches_single_process(tiny_model_dir, kv_file, tmp_path):
    common = ["max_steps=4", "lr=0.01", "lr_scheduler=constant", "warmup_ratio=0.0", "progress=false",
              "params=attention", "global_batch=2", "seed=0", "precision=fp32"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "needlework.cli", "train", "--model", str(tiny_model_dir),
           "--data", str(kv_file), "--out", str(tmp_path / "ddp"), "batch_size=1", *common]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "2 process(es)" in proc.stdout

    single = run_training(TrainConfig(**tiny_kwargs(tiny_model_dir, [kv_file], tmp_path / "one", params="attention",
                                                    lr=0.01, max_steps=4, global_batch=2, batch_size=2)))
    seen = [json.loads((tmp_path / "ddp" / "samples_seen" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert len(seen[0]) == len(seen[1]) == 4 and not set(seen[0]) & set(seen[1])
    one = json.loads((single / "samples_seen" / "rank0.json").read_text())
    # Step k of the single run sees exactly the two samples that rank 0 and rank 1 see at step k.
    assert [sorted(one[2 * k:2 * k + 2]) for k in range(4)] == [sorted([seen[0][k], seen[1][k]]) for k in range(4)]

    a, b = load_file(tmp_path / "ddp" / "model.safetensors"), load_file(single / "model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
    loss_ddp = [json.loads(x)["loss"] for x in (tmp_path / "ddp" / "train_log.jsonl").read_text().splitlines()]
    loss_one = [json.loads(x)["loss"] for x in (single / "train_log.jsonl").read_text().splitlines()]
    assert len(loss_ddp) == 4
    torch.testing.assert_close(torch.tensor(loss_ddp), torch.tensor(loss_one), rtol=1e-4, atol=1e-5)

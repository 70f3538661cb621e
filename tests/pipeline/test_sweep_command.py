"""`needlework sweep`: a run over two arms on the tiny model ends in one table per arm (printed, sweep.md,
sweep.json); a config with one arm and one seed is refused, since there is nothing to compare."""
from __future__ import annotations

import json

import yaml

from needlework.cli import main

from pipeline_helpers import mini_config


def test_sweep_runs_two_arms_and_writes_its_table(tiny_model_dir, tmp_path, capsys):
    cfg = mini_config(tiny_model_dir, tmp_path / "runs", arms={"fast": {"train": {"lr": 3e-3}}})
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["sweep", str(path)]) == 0
    out = capsys.readouterr().out
    root = tmp_path / "runs" / "mini"
    rows = json.loads((root / "sweep.json").read_text())["rows"]
    assert [r["arm"] for r in rows] == ["kv", "fast"]
    assert rows[0]["settings"] == "(the main arm)" and rows[1]["settings"] == "train.lr=0.003"
    assert all(r["transfer"]["MDQA"].get("delta") is not None for r in rows)
    assert all(r["synthetic"]["accuracy"] is not None and r["steps"] for r in rows)
    assert (root / "sweep.md").read_text().strip() in out


def test_sweep_refuses_one_arm_and_one_seed(tiny_model_dir, tmp_path, capsys):
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump(mini_config(tiny_model_dir, tmp_path / "runs")))
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err
    assert "nothing to compare" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs" / "mini").exists()

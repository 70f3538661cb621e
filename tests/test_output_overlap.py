"""Nothing the user asked to keep is deleted (issue 32): an output location that is an input (model, data,
config), holds one or lies inside one is refused before anything is written or removed, in one error line."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from needlework.cli import main


def digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def model(tmp_path, tiny_model_dir) -> Path:
    m = tmp_path / "m"
    shutil.copytree(tiny_model_dir, m)
    return m


@pytest.fixture
def data(tmp_path) -> Path:
    d = tmp_path / "d" / "train.jsonl"
    d.parent.mkdir()
    d.write_text(json.dumps({"messages": [{"role": "user", "content": "k?"}, {"role": "assistant", "content": "v"}]})
                 + "\n")
    return d


def one_error(capsys) -> str:
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(err) == 1 and err[0].startswith("needlework: error:"), err
    return err[0]


@pytest.mark.parametrize("out, how", [("m", "is the input model"), ("m/ft", "lies inside the input model"),
                                      (".", "holds the input model")])
def test_train_out_over_its_model_is_refused_and_the_model_kept(tmp_path, model, data, capsys, monkeypatch, out, how):
    """`train --model m --out m overwrite=true` deleted m, then failed to load it."""
    monkeypatch.chdir(tmp_path)
    before = digest(model)
    assert main(["train", "--model", "m", "--data", str(data), "--out", out, "overwrite=true", "--max-steps", "1",
                 "progress=false"]) == 2
    line = one_error(capsys)
    assert f"out: {out} {how}=m" in line and "nothing was changed" in line
    assert digest(model) == before


def test_train_out_holding_its_data_is_refused(tmp_path, model, data, capsys):
    assert main(["train", "--model", str(model), "--data", str(data), "--out", str(data.parent), "overwrite=true"]) == 2
    assert "holds the input data=" in one_error(capsys)
    assert data.exists()


def test_eval_out_in_the_model_folder_is_refused(tmp_path, model, capsys):
    before = digest(model)
    assert main(["eval", "--model", str(model), "--out", str(model), "kv_retrieval.n=1"]) == 2
    assert "is the input model=" in one_error(capsys)
    assert digest(model) == before


def test_generate_over_its_own_config_is_refused(tmp_path, capsys):
    cfg = tmp_path / "c.jsonl"   # a YAML config under a data file's name
    cfg.write_text(f"n: 2\nout: {cfg}\n")
    assert main(["generate", "-c", str(cfg)]) == 2
    assert "is the input --config=" in one_error(capsys)
    assert cfg.read_text() == f"n: 2\nout: {cfg}\n"


def test_a_run_root_holding_its_model_is_refused(tmp_path, model, capsys):
    assert main(["run", "--dry-run", f"root={tmp_path}", "name=m", f"train.model={model}"]) == 2
    assert "root:" in one_error(capsys)


def test_loss_map_and_heads_out_over_the_model_are_refused(tmp_path, model, data, capsys):
    before = digest(model)
    assert main(["loss-map", "--model", str(model), "--data", str(data), "--out", str(model)]) == 2
    assert "is the input model=" in one_error(capsys)
    assert main(["heads", "--model", str(model), "--data", str(data), "--out", str(data.parent)]) == 2
    assert "holds the input data=" in one_error(capsys)
    assert digest(model) == before

"""Reuse is keyed by content, never by path or by size + mtime (issue 32): a model folder retrained in place, a
weights file replaced by a copy with the same size and mtime (`cp -p`), and new data at the same path all
recompute; an evaluation of another model into a used folder is refused."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from needlework.config import ConfigError, from_dict
from needlework.models import content_fingerprint, file_sha256

sys.path.insert(0, str(Path(__file__).resolve().parent / "pipeline"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))


def retrain_in_place(folder: Path, seed: int) -> None:
    """New random weights in the same folder (what a second `train --out` into it leaves)."""
    from fault_harness import build_tiny_model
    build_tiny_model(folder, seed=seed)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLEWORK_CACHE", str(tmp_path / "cache"))


def test_a_same_size_same_mtime_copy_is_hashed_again(tmp_path, cache):
    """`cp -p` of other bytes of the same size: size and mtime are the old ones, the inode and ctime are not."""
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"x" * 4096)
    b.write_bytes(b"y" * 4096)
    first = file_sha256(a)
    st = a.stat()
    subprocess.run(["cp", "-p", str(b), str(a)], check=True)
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert a.stat().st_size == st.st_size and a.stat().st_mtime_ns == st.st_mtime_ns
    assert file_sha256(a) == file_sha256(b) != first


def test_a_weights_file_replaced_with_the_old_size_and_mtime_gets_a_new_fingerprint(tmp_path, cache, tiny_model_dir):
    m = tmp_path / "m"
    shutil.copytree(tiny_model_dir, m)
    before = content_fingerprint(str(m))
    w = m / "model.safetensors"
    st = w.stat()
    data = bytearray(w.read_bytes())
    data[-1] ^= 1
    other = tmp_path / "other.safetensors"
    other.write_bytes(bytes(data))
    shutil.copy2(other, w)                                   # same size; mtime set back below
    os.utime(w, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert content_fingerprint(str(m))["weights_sha256"] != before["weights_sha256"]


def test_run_with_a_local_model_retrained_in_place_reruns_its_stages(tmp_path, cache, tiny_model_dir):
    from needlework.pipeline.config import RunConfig
    from needlework.pipeline.run import all_stages
    from pipeline_helpers import mini_config
    m = tmp_path / "m"
    shutil.copytree(tiny_model_dir, m)

    def keys() -> dict:
        cfg = from_dict(RunConfig, mini_config(m, tmp_path / "runs"))
        return {f"{s.kind}/{s.label}": s.key for s in all_stages(cfg)[1]}
    before = keys()
    assert keys() == before                                  # nothing changed: every stage is reused
    retrain_in_place(m, seed=1)
    after = keys()
    changed = {k for k in before if before[k] != after[k]}
    assert {"eval/base", "train/kv-s0", "eval/kv-s0", "report/report"} <= changed
    assert not any(k.startswith("generate/") for k in changed)   # the data does not depend on the weights


def test_standalone_train_refuses_new_data_at_the_same_path(tmp_path, cache, tiny_model_dir, capsys):
    """It used to print "already trained with this config; skipping" and keep the model of the old data."""
    from needlework.cli import main
    from needlework.train import TrainConfig
    data = tmp_path / "d.jsonl"
    row = {"messages": [{"role": "user", "content": "k1?"}, {"role": "assistant", "content": "v1"}]}
    data.write_text(json.dumps(row) + "\n")
    cfg = from_dict(TrainConfig, {"model": str(tiny_model_dir), "data": [str(data)], "out": str(tmp_path / "o")})
    first = cfg.identity()
    assert cfg.identity() == first
    row["messages"][1]["content"] = "v2"
    data.write_text(json.dumps(row) + "\n")
    assert cfg.identity() != first and cfg.identity()["content"]["data"] == [file_sha256(data)]
    # a finished folder marked by the old data is not reused for the new
    from needlework.io import write_done
    from needlework.provenance import config_hash
    (tmp_path / "o").mkdir()
    write_done(tmp_path / "o", config_hash(first))
    rc = main(["train", "--model", str(tiny_model_dir), "--data", str(data), "--out", str(tmp_path / "o"),
               "--max-steps", "1", "progress=false"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("needlework: error: out:") and "input content" in err[-1]


def test_a_bundled_or_hub_model_adds_no_content_key(tmp_path, cache):
    from needlework.train import TrainConfig
    cfg = from_dict(TrainConfig, {"model": "smollm2-135m-instruct", "data": [], "out": str(tmp_path / "o")})
    assert "content" not in cfg.identity()     # run keys of bundled models stay what they were


def test_eval_into_a_folder_of_another_model_is_refused(tmp_path, capsys):
    from needlework.cli import main
    out = tmp_path / "e"
    out.mkdir()
    results = {"benchmarks": {}, "provenance": {"model": "model-a"}}
    (out / "results.json").write_text(json.dumps(results))
    assert main(["eval", "--model", "model-b", "--out", str(out), "kv_retrieval.n=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds the results of another model (model-a)" in err[0]
    assert json.loads((out / "results.json").read_text()) == results and not (out / "config.yaml").exists()


@pytest.mark.timeout(300)
def test_serve_with_a_retrained_folder_asks_again(tmp_path, cache, tiny_model_dir):
    """backend.openai.serve starts a server on a local folder: its answers are keyed by the folder's content, so a
    retrained folder is asked again instead of reusing the old model's answers."""
    from needlework.config import load_config
    from needlework.evals.runner import EvalConfig, run_eval
    m = tmp_path / "m"
    shutil.copytree(tiny_model_dir, m)
    serve = [sys.executable, str(Path(__file__).resolve().parent.parent / "scripts" / "fault_server.py"), "{port}"]

    def evaluate() -> set:
        cfg = load_config(EvalConfig, None, [f"out={tmp_path / 'e'}", f"model={m}", "kv_retrieval.n=1",
                                             "kv_retrieval.positions=[1]", "kv_retrieval.num_dicts=[3]",
                                             "kv_retrieval.max_new_tokens=4", "backend.kind=openai",
                                             "backend.context_length=4096", "backend.progress=false",
                                             "backend.openai.serve_timeout_s=60"])
        cfg.backend.openai.serve = serve
        run_eval(cfg)
        return {json.loads(x)["key"] for x in (tmp_path / "e" / "cache.jsonl").read_text().splitlines()}
    first = evaluate()
    assert evaluate() == first                               # the same folder: answers reused
    retrain_in_place(m, seed=1)
    assert evaluate() - first                                # retrained: asked again under a new key
    res = json.loads((tmp_path / "e" / "results.json").read_text())
    assert res["provenance"]["weights_sha256"] == content_fingerprint(str(m))["weights_sha256"]

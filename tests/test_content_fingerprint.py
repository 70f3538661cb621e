"""models.content_fingerprint: which weights were evaluated, checkable from results.json and the report."""
from __future__ import annotations

import shutil

from needlework.models import content_fingerprint


def test_same_files_same_hash_and_a_retrained_folder_a_new_one(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("NEEDLEWORK_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "m"
    shutil.copytree(tiny_model_dir, copy)
    first = content_fingerprint(str(copy))
    assert first == content_fingerprint(str(tiny_model_dir))           # content, not path
    assert len(first["weights_sha256"]) == 64 and len(first["tokenizer_sha256"]) == 64
    assert (tmp_path / "cache" / "file-sha256.json").exists()            # per-file hashes remembered
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1                                                        # one bit of the last tensor
    weights.write_bytes(bytes(data))
    after = content_fingerprint(str(copy))
    assert after["weights_sha256"] != first["weights_sha256"]
    assert after["tokenizer_sha256"] == first["tokenizer_sha256"]


def test_a_model_not_on_this_machine_has_no_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLEWORK_CACHE", str(tmp_path / "cache"))
    assert content_fingerprint("some-org/not-here") == {"weights_sha256": None, "tokenizer_sha256": None}

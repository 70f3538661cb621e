"""models.available_offline / local_folder: what loads without a network (the plan and the token counter
ask this instead of letting transformers retry the hub for minutes)."""
from __future__ import annotations

import pytest

from needlework.models import available_offline, local_folder


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty hub cache; `put(repo, *files)` fakes a downloaded snapshot holding those files."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))

    def put(repo: str, *files: str):
        snap = tmp_path / "hub" / f"models--{repo.replace('/', '--')}" / "snapshots" / "abc123"
        snap.mkdir(parents=True)
        (snap.parents[1] / "refs").mkdir()
        (snap.parents[1] / "refs" / "main").write_text("abc123")
        for f in files:
            (snap / f).write_text("{}")
        return snap
    return put


def test_a_hub_name_with_only_its_tokenizer_cached_has_a_tokenizer_but_no_weights(hub):
    snap = hub("org/tok-only", "tokenizer.json")
    assert available_offline("org/tok-only", "tokenizer") and not available_offline("org/tok-only", "weights")
    assert local_folder("org/tok-only", "tokenizer.json") == snap
    assert local_folder("org/tok-only", "config.json") is None


def test_a_cached_model_has_both(hub):
    hub("org/full", "config.json", "tokenizer_config.json")
    assert available_offline("org/full", "weights") and available_offline("org/full", "tokenizer")


def test_nothing_cached_and_no_folder_is_not_available(hub, tmp_path):
    for spec in ("org/absent", str(tmp_path / "no-such-folder")):
        assert not available_offline(spec, "weights") and not available_offline(spec, "tokenizer")
        assert local_folder(spec, "tokenizer.json") is None


def test_folders_bundled_names_and_tokenizer_specs(hub, tmp_path):
    (tmp_path / "m").mkdir()
    assert available_offline(str(tmp_path / "m"), "weights")
    assert local_folder(str(tmp_path / "m"), "tokenizer.json") is None   # a folder without the file
    (tmp_path / "m" / "tokenizer.json").write_text("{}")
    assert local_folder(str(tmp_path / "m"), "tokenizer.json") == tmp_path / "m"
    assert available_offline("smollm2-135m-instruct", "weights")
    assert available_offline("tiktoken:cl100k_base", "tokenizer") and not available_offline("tiktoken:x", "weights")
    with pytest.raises(ValueError, match="weights"):
        available_offline("org/full", "everything")

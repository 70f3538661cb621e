"""Fixtures for training tests: small KV data files in both row shapes."""
from __future__ import annotations

import pytest
from train_helpers import make_rows


@pytest.fixture(scope="session")
def kv_file(tmp_path_factory):
    from needlework.io import write_jsonl
    path = tmp_path_factory.mktemp("data") / "kv8.jsonl"
    write_jsonl(path, make_rows(8))
    return path


@pytest.fixture(scope="session")
def kv_file_pc(tmp_path_factory):
    from needlework.io import write_jsonl
    path = tmp_path_factory.mktemp("data") / "kv8_pc.jsonl"
    write_jsonl(path, make_rows(8, "prompt_completion"))
    return path

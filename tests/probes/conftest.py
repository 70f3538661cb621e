"""Fixtures for the probe tests: a small simple_kv file whose rows name their gold value."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def kv_file(tmp_path_factory):
    from needlework.io import write_jsonl
    from needlework.tasks import generate_sample, get_task
    from needlework.tasks.files.formats import to_row
    task = get_task("simple_kv")
    cfg = task.config_cls(num_dict=3, template=True)
    path = tmp_path_factory.mktemp("data") / "kv8.jsonl"
    write_jsonl(path, [to_row(generate_sample(task, cfg, 0, i), "messages") for i in range(8)])
    return path

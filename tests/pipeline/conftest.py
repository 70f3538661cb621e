"""Fixtures for pipeline tests (the miniature config itself lives in pipeline_helpers.py)."""
from __future__ import annotations

import pytest
from pipeline_helpers import mini_config


@pytest.fixture
def mini(tiny_model_dir, tmp_path):
    from needlework.config import from_dict
    from needlework.pipeline.config import RunConfig

    def make(root=None, **changes) -> RunConfig:
        cfg = from_dict(RunConfig, mini_config(tiny_model_dir, root or tmp_path / "runs", **changes))
        cfg.validate()
        return cfg
    return make

"""A fixed config and seed give a fixed file, byte for byte. Regenerate with UPDATE_GOLDEN=1 after an
intended change (and say why in the commit)."""
import os
from pathlib import Path

import pytest

from needlework.tasks.dataset import GenerateConfig, generate_file

GOLDEN = Path(__file__).parent / "golden"
CASES = {
    "simple_kv_template": dict(task="simple_kv", params={"num_dict": 6, "template": True}),
    "simple_kv_plain": dict(task="simple_kv", params={"num_dict": 6, "template": False}),
    "multi_subkey_kv_template": dict(task="multi_subkey_kv", params={"num_dict": 5, "template": True}),
    "multi_subkey_kv_plain": dict(task="multi_subkey_kv", params={"num_dict": 5, "template": False},
                                  format="openai"),
    "mdqa_train": dict(task="mdqa_train", params={"num_docs": 3}, format="prompt_completion"),
    "niah": dict(task="niah", params={"context_chars": 600}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_generator_matches_golden_file(name, tmp_path):
    out = tmp_path / f"{name}.jsonl"
    generate_file(GenerateConfig(n=4, seed=1234, out=str(out), **CASES[name]), progress=False)
    golden = GOLDEN / f"{name}.jsonl"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_bytes(out.read_bytes())
    assert out.read_bytes() == golden.read_bytes()

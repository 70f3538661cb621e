"""A fixed config and seed give a fixed file, byte for byte. Regenerate with UPDATE_GOLDEN=1 after an
intended change (and say why in the commit)."""
import os
from pathlib import Path

import pytest

from needlework.tasks.files.dataset import GenerateConfig, generate_file

GOLDEN = Path(__file__).parent / "golden"
CASES = {
    "simple_kv_template": dict(task="simple_kv", params={"num_dict": 6, "template": True}),
    "simple_kv_plain": dict(task="simple_kv", params={"num_dict": 6, "template": False}),
    "multi_subkey_kv_template": dict(task="multi_subkey_kv", params={"num_dict": 5, "template": True}),
    "multi_subkey_kv_plain": dict(task="multi_subkey_kv", params={"num_dict": 5, "template": False},
                                  format="openai"),
    "mdqa_train": dict(task="mdqa_train", params={"num_docs": 3}, format="prompt_completion"),
    "niah": dict(task="niah", params={"context_chars": 600}),
    # new families (issue 12): one file per format / question shape, with and without the answer template
    "formatted_kv_words_template": dict(task="formatted_kv", params={"num_dict": 5, "template": True}),
    "formatted_kv_uuid_json_plain": dict(task="formatted_kv", params={
        "num_dict": 3, "key_format": "uuid", "value_format": "uuid", "render": "json", "template": False}),
    "formatted_kv_multi_query_json": dict(task="formatted_kv", params={
        "num_dict": 5, "key_format": "number", "value_format": "word", "render": "json", "n_queries": 3}),
    "formatted_kv_spread_queries": dict(task="formatted_kv", params={"num_dict": 6, "n_queries": 3,
                                                                     "query_spread": True}),
    "formatted_kv_multi_value_strings": dict(task="formatted_kv", params={
        "num_dict": 4, "key_format": "string", "value_format": "string", "n_values": 3, "template": False},
        format="prompt_completion"),
    "variable_tracking_template": dict(task="variable_tracking", params={"num_lines": 8, "hops": 3, "num_chains": 2}),
    "variable_tracking_names_plain": dict(task="variable_tracking", params={
        "num_lines": 6, "hops": 2, "num_chains": 2, "question": "names", "template": False}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_generator_matches_golden_file(name, tmp_path):
    out = tmp_path / f"{name}.jsonl"
    generate_file(GenerateConfig(n=4, seed=1234, out=str(out), **CASES[name]), progress=False)
    golden = GOLDEN / f"{name}.jsonl"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_bytes(out.read_bytes())
    assert out.read_bytes() == golden.read_bytes()

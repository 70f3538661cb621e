"""Every suite benchmark is registered as claim 2's, documents its data, licence and split, defaults to the
eval half, and the split itself is the documented hash rule."""
from __future__ import annotations

import hashlib

import pytest

from needlework.config import ConfigError
from needlework.evals.registry import get_benchmark
from needlework.evals.suite.split import split_of

SUITE = ["squad-passages", "sciq-passages", "records", "associative-needle", "ruler-needles"]


@pytest.mark.parametrize("name", SUITE)
def test_registered_as_a_transfer_task_with_its_data_documented(name):
    b = get_benchmark(name)
    assert b.report.claim == "transfer" and b.kind == "generate" and b.contrast is not None
    s = b.settings()
    assert s.split == "eval"
    info = b.describe(s)
    assert {"data_source", "licence", "split", "metric"} <= set(info) and "eval" in info["split"]
    with pytest.raises(ConfigError, match="split"):
        b.settings(split="train").validate()


def test_split_is_the_documented_hash_rule():
    def by_hand(source, family):
        h = int(hashlib.sha256(f"{family}\n{source}".encode()).hexdigest()[:8], 16) / 16**8
        return "eval" if h < 0.5 else "dev"
    sources = [f"paragraph {i}" for i in range(400)]
    got = [split_of(x, "squad-passages") for x in sources]
    assert got == [by_hand(x, "squad-passages") for x in sources]
    assert 150 < got.count("eval") < 250                               # about half each
    other = [split_of(x, "records") for x in sources]
    assert other != got                                                # each family splits on its own

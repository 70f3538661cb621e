"""The hf backend with the real bundled SmolLM2: sensible answers, batch = one-by-one, stop at newline."""
from __future__ import annotations

import pytest

from needlework.backends import Request
from needlework.backends.hf import HFBackend

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smollm2():
    return HFBackend("smollm2-135m-instruct", batch_size=2, progress=False)


def test_answers_batched_like_one_by_one(smollm2):
    reqs = [Request(messages=[{"role": "user", "content": "What is the capital of France?"}], max_new_tokens=12,
                    stop=["\n"]),
            Request(prompt="The capital of France is", max_new_tokens=12, stop=["\n"])]  # same settings: one batch
    batched = smollm2.generate(reqs)
    assert "Paris" in batched[0].text
    assert "\n" not in batched[1].text
    assert [c.text for c in batched] == [smollm2.generate([r])[0].text for r in reqs]
    assert smollm2.context_length() == 8192

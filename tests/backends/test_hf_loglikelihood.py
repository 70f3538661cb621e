"""The hf backend's continuation log-likelihoods against a hand computation from the model's own logits."""
from __future__ import annotations

import pytest

from needlework.backends import Request
from needlework.backends.base import loglikelihood_missing
from needlework.backends.hf import HFBackend


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return HFBackend(str(tiny_model_dir), batch_size=2, precision="fp32", progress=False)


def _by_hand(model_dir, text: str, continuation: str, special: bool) -> float:
    """log p(continuation | text) from one plain forward of text + continuation, no backend code."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    p = tok(text, add_special_tokens=special)["input_ids"]
    c = tok(continuation, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        lp = model(torch.tensor([p + c])).logits[0].log_softmax(-1)
    return sum(float(lp[len(p) + j - 1, t]) for j, t in enumerate(c))


def test_loglikelihood_equals_hand_computation_chat_and_plain(tiny, tiny_model_dir):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    chat = Request(messages=[{"role": "user", "content": "Where is the Eiffel Tower?"}])
    plain = Request(prompt="Question: where is the Eiffel Tower?\nAnswer:")
    pairs = [(chat, "Paris"), (chat, "in Rome, Italy"), (plain, " Paris"), (plain, " the moon"), (chat, "Paris")]
    got = tiny.loglikelihood(pairs)
    templated = tok.apply_chat_template(chat.messages, tokenize=False, add_generation_prompt=True)
    assert templated.endswith("<|im_start|>assistant\n")    # the continuation follows the assistant turn's start
    want = [_by_hand(tiny_model_dir, templated, "Paris", False), _by_hand(tiny_model_dir, templated, "in Rome, Italy", False),
            _by_hand(tiny_model_dir, plain.prompt, " Paris", True), _by_hand(tiny_model_dir, plain.prompt, " the moon", True)]
    assert got[:4] == pytest.approx(want, abs=1e-4)
    assert got[4] == got[0] and all(v < 0 for v in got)
    assert len(set(round(v, 3) for v in got[:4])) == 4         # distinct continuations, distinct values


def test_batch_size_and_grouping_do_not_change_values(tiny_model_dir, tiny):
    one = HFBackend(str(tiny_model_dir), batch_size=1, precision="fp32", progress=False)
    pairs = [(Request(prompt=f"Item {i}: the answer is"), f" {w}") for i in range(3) for w in ("red", "a long blue one")]
    assert one.loglikelihood(pairs) == pytest.approx(tiny.loglikelihood(pairs), abs=1e-4)


def test_capability_is_optional():
    class NoScores:
        name = "openai"
    assert "companion measures need a backend with log-likelihoods" in loglikelihood_missing(NoScores())
    assert loglikelihood_missing(type("S", (), {"loglikelihood": lambda self, p: []})()) is None

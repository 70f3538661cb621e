"""The hf backend on tiny random models: batching, padding, stop strings, templates, context checks."""
from __future__ import annotations

import pytest

from needlework.backends import (BackendError, ContextTooLong, Request, fits, make_backend, overflowing)
from needlework.backends.hf import HFBackend
from needlework.config import ConfigError

PROMPTS = ["The cat", "Once upon a time in a land far away there lived", "1 2 3 4 5 6",
           "A much longer prompt that goes on and on about nothing in particular, just to be long enough", "Hi"]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return HFBackend(str(tiny_model_dir), batch_size=2, progress=False)


def _reference_greedy(model_dir, prompt: str, max_new_tokens: int) -> str:
    """Plain greedy decoding of one prompt with transformers alone: no padding, no batching, no KV cache, none of
    the backend's code, so the backend is checked against something other than itself."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ids, out = tok(prompt)["input_ids"], []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            out.append(int(model(torch.tensor([ids + out])).logits[0, -1].argmax()))
            if out[-1] == tok.eos_token_id:
                break
    return tok.decode(out, skip_special_tokens=True)


def test_batched_left_padded_output_equals_plain_greedy_in_original_order(tiny_model_dir):
    b = HFBackend(str(tiny_model_dir), batch_size=2, precision="fp32", progress=False)
    reqs = [Request(prompt=p, max_new_tokens=8) for p in PROMPTS]
    batched = b.generate(reqs)
    reference = [_reference_greedy(tiny_model_dir, p, 8) for p in PROMPTS]
    assert len(set(reference)) > 1                  # the prompts lead to different answers: order is checked too
    assert [c.text for c in batched] == reference
    assert [c.prompt_tokens for c in batched] == [b.count_prompt_tokens(r) for r in reqs]
    assert all(c.completion_tokens <= 8 for c in batched)


def test_greedy_is_deterministic(tiny):
    reqs = [Request(prompt=p, max_new_tokens=6) for p in PROMPTS[:3]]
    assert [c.text for c in tiny.generate(reqs)] == [c.text for c in tiny.generate(reqs)]


def test_sampling_is_seeded(tiny_model_dir):
    a = HFBackend(str(tiny_model_dir), progress=False, seed=1)
    reqs = [Request(prompt="The cat", max_new_tokens=6, temperature=1.0)]
    assert a.generate(reqs)[0].text == a.generate(reqs)[0].text


def test_stop_string_stops_early_and_is_cut(tiny):
    free = tiny.generate([Request(prompt=PROMPTS[1], max_new_tokens=20)])[0]
    assert free.completion_tokens == 20 and len(free.text) > 6
    stop = free.text[4:6]  # some text the model is known to produce
    cut = tiny.generate([Request(prompt=PROMPTS[1], max_new_tokens=20, stop=[stop])])[0]
    assert cut.text == free.text[:free.text.index(stop)]
    assert cut.finish_reason == "stop" and cut.completion_tokens < 20


def test_mixed_settings_in_one_call_keep_order(tiny):
    reqs = [Request(prompt=p, max_new_tokens=n) for p, n in zip(PROMPTS, [3, 5, 3, 5, 3])]
    out = tiny.generate(reqs)
    assert [c.completion_tokens for c in out] == [3, 5, 3, 5, 3]
    assert out[1].text == tiny.generate([reqs[1]])[0].text


def test_chat_messages_use_the_template_and_raw_prompts_stay_raw(tiny):
    chat = Request(messages=[{"role": "user", "content": "Hello"}])
    text = tiny.render(chat)
    assert "<|im_start|>user\nHello<|im_end|>" in text and text.endswith("<|im_start|>assistant\n")
    assert tiny.render(Request(prompt="Hello")) == "Hello"
    ids = tiny.renderer.token_ids(chat)
    assert ids == tiny.tokenizer(text, add_special_tokens=False)["input_ids"]  # no doubled special tokens
    assert tiny.count_prompt_tokens(chat) == len(ids)


def test_chat_template_on_wraps_prompts_and_adds_system_prompt(tiny_model_dir):
    b = HFBackend(str(tiny_model_dir), chat_template="on", system_prompt="Be brief.", progress=False)
    text = b.render(Request(prompt="Hello"))
    assert "<|im_start|>system\nBe brief.<|im_end|>" in text and "<|im_start|>user\nHello" in text


def test_chat_template_off_and_missing_template(tiny_model_dir, tiny_model_no_template_dir):
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    off = HFBackend(str(tiny_model_dir), chat_template="off", progress=False)
    assert off.render(Request(messages=msgs)) == "S\n\nU"
    plain = HFBackend(str(tiny_model_no_template_dir), progress=False)
    assert plain.render(Request(messages=msgs)) == "S\n\nU"
    with pytest.raises(BackendError, match="no chat template"):
        HFBackend(str(tiny_model_no_template_dir), chat_template="on", progress=False)


def test_too_long_requests_are_reported_not_truncated(tiny_model_dir):
    b = HFBackend(str(tiny_model_dir), context_length=20, progress=False)
    assert b.context_length() == 20
    reqs = [Request(prompt="short", max_new_tokens=5), Request(prompt="word " * 30, max_new_tokens=5),
            Request(prompt="a b c d e f g h i j", max_new_tokens=15)]
    assert overflowing(b, reqs) == [1, 2] and fits(b, reqs[0])
    with pytest.raises(ContextTooLong, match="2 of 3 requests exceed the model's context of 20") as e:
        b.generate(reqs)
    assert e.value.indices == [1, 2]
    assert b.generate([reqs[0]])[0].completion_tokens <= 5


def test_context_length_comes_from_the_model_config(tiny):
    assert tiny.context_length() == 4096


def test_make_backend_hf_and_config_errors(tiny_model_dir):
    b = make_backend({"kind": "hf", "model": str(tiny_model_dir), "progress": False, "hf": {"batch_size": 3}})
    assert isinstance(b, HFBackend) and b.batch_size == 3
    with pytest.raises(ConfigError, match="unknown setting backend.batchsize"):
        make_backend({"kind": "hf", "batchsize": 3})
    with pytest.raises(ConfigError, match="backend.hf.batch_size must be at least 1"):
        make_backend({"kind": "hf", "hf": {"batch_size": 0}})
    with pytest.raises(BackendError, match="cannot load model"):
        make_backend({"kind": "hf", "model": "/no/such/model"})


def test_bf16_runs(tiny_model_dir):
    import torch
    b = HFBackend(str(tiny_model_dir), precision="bf16", progress=False)
    # asked for bf16: the weights are loaded in bf16 (no autocast over fp32 weights) and provenance says so
    assert b.dtype == torch.bfloat16 and b.precision["dtype"] == "bfloat16"
    assert {p.dtype for p in b.model.parameters()} == {torch.bfloat16} and not b._autocast
    [c] = b.generate([Request(prompt="The cat", max_new_tokens=4)])
    assert c.completion_tokens == 4


def test_batches_bound_padding_and_size(tiny_model_dir):
    b = HFBackend(str(tiny_model_dir), batch_size=3, max_padding=0.1, progress=False)
    reqs = [Request(prompt=str(i)) for i in range(6)]
    lengths = [100, 50, 99, 98, 97, 49]
    # longest first; at most 3 per batch; 100 and 50 are never padded together
    assert b.plan(reqs, lengths) == [[0, 2, 3], [4], [1, 5]]
    reqs[2].max_new_tokens = 7  # other settings: a batch of its own
    assert b.plan(reqs, lengths) == [[2], [0, 3, 4], [1, 5]]

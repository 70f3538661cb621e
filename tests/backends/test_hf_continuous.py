"""The continuous engine on the tiny random model: greedy outputs equal the static engine's, whatever ends a row."""
from __future__ import annotations

import pytest

from needlework.backends import Request, make_backend
from needlework.backends.hf import HFBackend
from needlework.config import ConfigError

# Long shared prefixes (as the cpu-demo's prompts have) exercise prefix reuse from kept prompts and from a
# prompt prefilled in the same refill (a second forward); different lengths exercise the per-row masks.
STORY = "Once upon a time in a land far away there lived a king who had three daughters and a garden. " * 4
PROMPTS = [STORY + "The eldest", "The cat", STORY + "The youngest daughter said", "1 2 3 4 5 6",
           STORY, "Hi", STORY + "The eldest daughter went to the well and", "A much longer prompt that goes on "
           "and on about nothing in particular, just to be long enough " * 2]
MAX_NEW = [8, 12, 3, 20, 1, 8, 12, 5]


def _pair(model_dir, batch_size, **kw):
    return (HFBackend(str(model_dir), batch_size=batch_size, progress=False, engine="static", **kw),
            HFBackend(str(model_dir), batch_size=batch_size, progress=False, engine="continuous", **kw))


def _same(a, b):
    return [(c.text, c.completion_tokens, c.finish_reason, c.prompt_tokens) for c in a] == \
           [(c.text, c.completion_tokens, c.finish_reason, c.prompt_tokens) for c in b]


@pytest.fixture(scope="module")
def free_run(tiny_model_dir):
    """What the model writes with no stop: picks stop strings and an EOS token it is known to produce."""
    b = HFBackend(str(tiny_model_dir), batch_size=8, progress=False, engine="static")
    out = b.generate([Request(prompt=p, max_new_tokens=20) for p in PROMPTS])
    ids = [b.tokenizer(c.text, add_special_tokens=False)["input_ids"] for c in out]
    return out, ids


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_greedy_equals_static_with_max_new_tokens_stop_strings_and_eos(tiny_model_dir, free_run, batch_size):
    out, ids = free_run
    static, cont = _pair(tiny_model_dir, batch_size)
    assert cont.engine == "continuous" and cont.streaming and not static.streaming
    reqs = [Request(prompt=p, max_new_tokens=n) for p, n in zip(PROMPTS, MAX_NEW)]
    a, b = static.generate(reqs), cont.generate(reqs)
    assert _same(a, b) and [c.completion_tokens for c in b] == MAX_NEW
    # stop strings the model produces mid-answer (different rows stop at different steps), some rows none
    stops = [[out[i].text[4:6]] if i % 2 == 0 else [] for i in range(len(PROMPTS))]
    reqs = [Request(prompt=p, max_new_tokens=20, stop=s) for p, s in zip(PROMPTS, stops)]
    a, b = static.generate(reqs), cont.generate(reqs)
    assert _same(a, b)
    assert sum(c.finish_reason == "stop" for c in b) >= 3
    # an EOS token the model produces: rows end on it at different steps
    for x in (static, cont):
        x.eos_ids = [ids[1][3], ids[3][5]]
    reqs = [Request(prompt=p, max_new_tokens=20) for p in PROMPTS]
    a, b = static.generate(reqs), cont.generate(reqs)
    assert _same(a, b)
    assert any(c.finish_reason == "stop" and c.completion_tokens < 20 for c in b)


def test_mixed_settings_chat_and_raw_in_one_call(tiny_model_dir):
    static, cont = _pair(tiny_model_dir, 4)
    reqs = [Request(messages=[{"role": "user", "content": p}], max_new_tokens=n, stop=["e"] if n > 5 else [])
            for p, n in zip(PROMPTS, MAX_NEW)] + [Request(prompt=p, max_new_tokens=6) for p in PROMPTS[:3]]
    assert _same(static.generate(reqs), cont.generate(reqs))


def test_prefixes_are_reused_and_stream_yields_every_request_once(tiny_model_dir):
    _, cont = _pair(tiny_model_dir, 3)
    reqs = [Request(prompt=p, max_new_tokens=4) for p in PROMPTS]
    got = list(cont.generate_stream(reqs))
    assert sorted(i for i, _ in got) == list(range(len(reqs)))
    assert cont.last_stats["reused_tokens"] > 3 * 40   # the four STORY prompts share ~80 tokens
    total = sum(cont.count_prompt_tokens(r) for r in reqs)
    assert cont.last_stats["prefill_tokens"] + cont.last_stats["reused_tokens"] == total


@pytest.mark.parametrize("how", ["autocast", "bf16 weights"])
def test_bf16_runs(tiny_model_dir, how):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.float32 if how == "autocast" else torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=dtype)
    b = HFBackend(model_obj=model, tokenizer=AutoTokenizer.from_pretrained(tiny_model_dir), precision="bf16",
                  batch_size=3, progress=False)
    assert b.engine == "continuous" and b._autocast == (how == "autocast")
    reqs = [Request(prompt=p, max_new_tokens=n) for p, n in zip(PROMPTS, MAX_NEW)]
    out = b.generate(reqs)
    assert [c.completion_tokens for c in out] == MAX_NEW
    assert [c.text for c in out] == [c.text for c in b.generate(reqs)]


def test_engine_setting(tiny_model_dir):
    assert make_backend({"kind": "hf", "model": str(tiny_model_dir), "progress": False}).engine == "continuous"
    b = make_backend({"kind": "hf", "model": str(tiny_model_dir), "progress": False, "hf": {"engine": "static"}})
    assert b.engine == "static" and not b.streaming
    with pytest.raises(ConfigError, match="engine"):
        make_backend({"kind": "hf", "model": str(tiny_model_dir), "hf": {"engine": "paged"}})

"""The continuous engine on sliding-window models (issue 18, item 4): a tiny random Mistral (window 12 tokens,
shorter than all prompts but one; with and without GQA) and a Qwen2 mixing sliding and full layers (`layer_types`)
give the same greedy completions as the static engine and as plain `model.generate` one prompt at a time;
decode steps pass no mask, GQA keys are never repeated, each row's buffer is sized to that row."""
from __future__ import annotations

import pytest

from needlework.backends import Request
from needlework.backends.hf import HFBackend
from needlework.backends.hf_continuous import supports_continuous

WINDOW = 12
# Shared prefixes (prefix reuse, then a prefill starting past 0 under the window) and different lengths.
STORY = "Once upon a time in a land far away there lived a king who had three daughters and a garden. " * 3
PROMPTS = [STORY + "The eldest", "The cat sat on the mat and looked at the dog for a long while",
           STORY + "The youngest said",
           "1 2 3 4 5 6 7 8 9 10 11 12 13 14", STORY, "Hi there, how are you doing today my friend?",
           STORY + "The eldest daughter went to the well and", "A much longer prompt that goes on and on "
           "about nothing in particular, just to be long enough " * 2]
MAX_NEW = [8, 12, 3, 20, 1, 8, 12, 5]


def _save(out, tok, kind: str, kv_heads: int):
    import torch
    from transformers import MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM

    common = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_attention_heads=4,
                  num_key_value_heads=kv_heads, max_position_embeddings=4096, bos_token_id=tok.bos_token_id,
                  eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id if tok.pad_token_id is not None
                  else tok.eos_token_id, tie_word_embeddings=True, sliding_window=WINDOW)
    torch.manual_seed(0)
    if kind == "mistral":
        model = MistralForCausalLM(MistralConfig(num_hidden_layers=2, **common))
    else:   # layers 0 and 2 full, 1 and 3 sliding
        model = Qwen2ForCausalLM(Qwen2Config(num_hidden_layers=4, use_sliding_window=True, layer_types=[
            "full_attention", "sliding_attention", "full_attention", "sliding_attention"], **common))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module", params=[("mistral", 2), ("mistral", 4), ("qwen2-mixed", 2)],
                ids=["mistral-gqa", "mistral-mha", "qwen2-mixed-gqa"])
def windowed_dir(request, tmp_path_factory, smollm2_tokenizer_dir):
    from transformers import AutoTokenizer

    kind, kv_heads = request.param
    tok = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    return _save(tmp_path_factory.mktemp(f"{kind}-{kv_heads}"), tok, kind, kv_heads)


def _key(out):
    return [(c.text, c.completion_tokens, c.finish_reason, c.prompt_tokens) for c in out]


def test_same_greedy_outputs_as_static_and_generate(windowed_dir):
    import torch

    static = HFBackend(str(windowed_dir), batch_size=8, progress=False, engine="static", precision="fp32")
    cont = HFBackend(model_obj=static.model, tokenizer=static.tokenizer, batch_size=3, progress=False,
                     engine="continuous", precision="fp32")
    assert cont.engine == "continuous" and supports_continuous(cont.model)
    reqs = [Request(prompt=p, max_new_tokens=n + 8) for p, n in zip(PROMPTS, MAX_NEW)]
    ids = [cont.renderer.token_ids(r) for r in reqs]
    # the window matters: prompts are up to 5x longer (one shorter prompt decodes past it)
    assert sum(len(x) > WINDOW for x in ids) == len(ids) - 1 and max(map(len, ids)) > 5 * WINDOW
    a, b = static.generate(reqs), cont.generate(reqs)
    assert _key(a) == _key(b)
    assert cont.last_stats["reused_tokens"] > 0   # prefilled after a reused prefix: the windowed mask path
    # plain generate, one prompt at a time (no padding, transformers' own sliding-window masks)
    for x, r, c in zip(ids, reqs, b):
        with torch.inference_mode():
            out = static.model.generate(torch.tensor([x]), max_new_tokens=r.max_new_tokens, do_sample=False,
                                        eos_token_id=cont.eos_ids, pad_token_id=cont.pad_id)
        assert _key([cont._completion(out[0, len(x):].tolist(), len(x), r)]) == _key([c])


def test_no_mask_in_decode_no_repeated_keys_rows_sized_per_row(windowed_dir, monkeypatch):
    import torch.nn.functional as F

    from needlework.backends import hf_row_cache

    calls, seen = [], []
    real_sdpa, real_begin = F.scaled_dot_product_attention, hf_row_cache.RowCache.begin

    def sdpa(q, k, v, attn_mask=None, is_causal=False, scale=None, enable_gqa=False):
        calls.append((q.shape[2], q.shape[1], k.shape[1], attn_mask is not None, is_causal, enable_gqa))
        return real_sdpa(q, k, v, attn_mask=attn_mask, is_causal=is_causal, scale=scale, enable_gqa=enable_gqa)

    def begin(self, rows, starts, lens):
        seen.extend(rows)
        return real_begin(self, rows, starts, lens)

    monkeypatch.setattr(F, "scaled_dot_product_attention", sdpa)
    monkeypatch.setattr(hf_row_cache.RowCache, "begin", begin)
    cont = HFBackend(str(windowed_dir), batch_size=4, progress=False, engine="continuous", precision="fp32")
    cfg = cont.model.config
    reqs = [Request(prompt=p, max_new_tokens=n) for p, n in zip(PROMPTS, MAX_NEW)]
    out = cont.generate(reqs)
    assert all(c.completion_tokens <= n for c, n in zip(out, MAX_NEW)) and calls
    decode = [c for c in calls if c[0] == 1]
    assert decode and not any(c[3] or c[4] for c in decode)          # one query: neither mask nor causal flag
    assert all(c[2] == cfg.num_key_value_heads for c in calls)        # keys keep their own heads
    assert all(c[5] == (cfg.num_key_value_heads < cfg.num_attention_heads) for c in calls)
    fresh = [c for c in calls if c[0] > 1 and not c[3]]
    assert fresh and all(c[4] for c in fresh)                         # a prefill from 0 within the window
    # after the run no row holds a buffer beyond its own prompt + max_new_tokens
    rows = {id(r): r for r in seen}.values()
    assert {r.kv[0][0].shape[1] for r in rows} == {len(r.prompt) + r.request.max_new_tokens for r in rows}
    assert len({r.kv[0][0].shape[1] for r in rows}) > 1


def test_a_model_type_it_cannot_attend_keeps_the_static_engine(windowed_dir):
    cont = HFBackend(str(windowed_dir), batch_size=2, progress=False, engine="continuous", precision="fp32")
    cfg = cont.model.config
    saved = getattr(cfg, "layer_types", None)
    cfg.layer_types = ["chunked_attention"] * cfg.num_hidden_layers
    try:
        assert not supports_continuous(cont.model)
    finally:
        cfg.layer_types = saved

"""The continuous engine with the real SmolLM2 on cpu-demo evaluation prompts: the static engine's outputs."""
from __future__ import annotations

import pytest

from needlework.backends.hf import HFBackend

pytestmark = pytest.mark.integration


def test_cpu_demo_prompts_same_completions_as_static():
    from needlework.evals.runner import _build_all
    from needlework.pipeline.presets import load_preset

    cfg = load_preset("cpu-demo").eval_for("smollm2-135m-instruct", "unused")
    cfg.limit = 1   # one item per bucket: 4 kv-retrieval gold positions (shared dictionaries), 3 MDQA positions
    cfg.benchmarks = ["kv-retrieval", "mdqa"]                          # the benchmarks the engine generates for
    cfg.kv_retrieval.positions, cfg.kv_retrieval.num_dicts = [1, 3, 6, 8], [8]   # 8 dictionaries, as pinned below
    items = [it for _, _, its, _ in _build_all(cfg).values() for it in its]
    reqs = [it.request for it in items]
    static = HFBackend("smollm2-135m-instruct", precision="fp32", batch_size=16, progress=False, engine="static")
    cont = HFBackend(model_obj=static.model, tokenizer=static.tokenizer, precision="fp32", batch_size=3,
                     progress=False, engine="continuous")   # 3 rows for 7 prompts: rows end and are refilled
    a, b = static.generate(reqs), cont.generate(reqs)
    assert [(c.text, c.completion_tokens, c.finish_reason) for c in a] == \
           [(c.text, c.completion_tokens, c.finish_reason) for c in b]
    assert any(c.finish_reason == "stop" and c.completion_tokens < 32 for c in b)   # rows end early
    assert cont.last_stats["reused_tokens"] > 0
    assert "133" in b[0].text   # kv-retrieval sample 0, gold at 1: SmolLM2 finds this one

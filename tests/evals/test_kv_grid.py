"""A depth x length kv-retrieval grid with lengths 1x, 2x and 4x the cpu-demo's training length (6 dictionaries)
evaluates end to end: every (length, depth) cell in results.json with its prompt tokens, and lengths past the
model's context are reported as unmeasured cells, never as wrong ones."""
from __future__ import annotations

import json

from needlework.config import load_config
from needlework.evals.runner import EvalConfig, run_eval
from needlework.report.retrieval_grid import retrieval_section

from evals_fakes import FakeBackend

GRID = ["kv_retrieval.n=2", "kv_retrieval.num_dicts=[6,12,24]", "kv_retrieval.depths=[0.0,0.25,0.5,0.75,1.0]"]


def _run(tmp_path, context=None) -> dict:
    cfg = load_config(EvalConfig, None, [f"out={tmp_path / 'r'}", "model=fake-model", "batch_size=8",
                                         "benchmarks=[kv-retrieval]", *GRID])
    run = run_eval(cfg, backend=FakeBackend(frac=1.0, context=context))
    return json.loads((run / "results.json").read_text())["benchmarks"]["kv-retrieval"]


def test_grid_cells_and_tokens(tmp_path):
    kv = _run(tmp_path)
    assert len(kv["buckets"]) == 15 and {b["n"] for b in kv["buckets"]} == {2}
    tokens = [row["prompt_tokens_mean"] for row in kv["by_axis"]["length"]]
    assert [row["value"] for row in kv["by_axis"]["length"]] == [6, 12, 24] and tokens == sorted(tokens)
    sec = retrieval_section({"base": [kv]}, [], [])
    assert len(sec["grid"]["accuracy"]["base"]) == 5 and sec["grid"]["by_length"]["base"] == [1.0, 1.0, 1.0]


def test_lengths_past_the_context_are_unmeasured_cells(tmp_path):
    words = [row["prompt_tokens_mean"] for row in _run(tmp_path / "probe")["by_axis"]["length"]]
    kv = _run(tmp_path, context=int(words[1] + words[2]) // 2 + 96)   # + max_new_tokens: 12 dictionaries fit, 24 not
    longest = [b for b in kv["buckets"] if b["axes"]["length"] == 24]
    assert all(b["n"] == 0 and b["n_over_context"] == 2 and b["prompt_tokens_mean"] for b in longest)
    sec = retrieval_section({"base": [kv]}, [], [])
    assert sec["grid"]["by_length"]["base"] == [1.0, 1.0, None]
    assert sec["effective_length"]["by_model"]["base"]["length"] == 12
    assert not sec["effective_length"]["by_model"]["base"]["censored"]


def test_proposed_cpu_demo_grid_reaches_2x_and_4x_the_training_tokens(smollm2_tokenizer_dir):
    """The cpu-demo trains on 6 dictionaries; in SmolLM2's chat-templated tokens 15 and 32 dictionaries are 2x and
    4x that (12 and 24 are not: the question and answer template add a fixed ~110 tokens to every prompt)."""
    from needlework.evals.kv_retrieval import KVRetrievalConfig, build
    from needlework.tasks.tokenization.tokens import make_counter
    count = make_counter(str(smollm2_tokenizer_dir), chat_template=True)
    items = build(KVRetrievalConfig(n=4, num_dicts=[6, 12, 15, 24, 32], depths=[0.0, 0.5, 1.0]), seed=0)
    mean = {}
    for it in items:
        mean.setdefault(it.axes["length"], []).append(count(it.request.messages[0]["content"]))
    mean = {k: sum(v) / len(v) for k, v in mean.items()}
    assert mean[15] >= 2 * mean[6] > mean[12] and mean[32] >= 4 * mean[6] > mean[24]

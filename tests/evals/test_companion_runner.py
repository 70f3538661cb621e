"""The runner's companion measures: context gain and preference in samples.jsonl, cached, skipped with a note."""
from __future__ import annotations

import json

import pytest

from needlework.config import ConfigError, load_config
from needlework.evals.runner import EvalConfig, run_eval

from evals_fakes import FakeBackend, _text

MDQA = ["benchmarks=[mdqa,kv-retrieval]", "mdqa.n=3", "mdqa.k=4", "mdqa.positions=[1,4]", "kv_retrieval.n=2",
        "kv_retrieval.num_dicts=[4]", "kv_retrieval.positions=[1]"]


class ScoringFake(FakeBackend):
    """A fake with log-likelihoods: an answer written in the prompt is likely (-1 nat), any other unlikely (-6),
    minus a small per-continuation offset so distinct answers never tie."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.ll_calls, self.ll_pairs = 0, 0

    def loglikelihood(self, pairs):
        self.ll_calls += 1
        self.ll_pairs += len(pairs)
        return [(-1.0 if c.strip() in _text(r) else -6.0) - len(c) / 1000 for r, c in pairs]


def _cfg(out, *extra) -> EvalConfig:
    return load_config(EvalConfig, None, [f"out={out}", "model=fake-model", "batch_size=4", *MDQA, *extra])


def _samples(run) -> list[dict]:
    return [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]


def test_context_gain_and_preference_in_samples_and_cached(tmp_path):
    fake = ScoringFake()
    run = run_eval(_cfg(tmp_path / "r"), backend=fake)
    rows = _samples(run)
    md = [r for r in rows if r["benchmark"] == "mdqa"]
    assert len(md) == 6 and all(r["scores"]["context_gain"] == pytest.approx(5.0) for r in md)
    # the fake finds the gold answer in the prompt (-1) and every distractor's own answer too (-1 - len/1000):
    # preference compares them by the length offset alone, so it is the share of longer distractor answers
    assert all(0.0 <= r["scores"]["preference"] <= 1.0 for r in md)
    assert list(md[0]["scores"])[0] == "best_subspan_em"        # the primary metric first, the companions beside
    assert not any("context_gain" in r["scores"] for r in rows if r["benchmark"] == "kv-retrieval")  # no contrast
    res = json.loads((run / "results.json").read_text())["benchmarks"]
    assert res["mdqa"]["primary_metric"] == "best_subspan_em"
    assert "context_gain" not in res["mdqa"]["overall"]["metrics"]
    comp = res["mdqa"]["companion"]
    assert comp["context_gain"]["mean"] == pytest.approx(5.0) and comp["context_gain"]["n"] == 6
    assert comp["preference"]["chance"] == 0.5 and "specificity" in comp["preference"]["measures"]
    # pairs: 6 items x (with + 3 distractors) + one prompt without gold per question (3), each scored once
    assert fake.ll_pairs == 6 * 4 + 3
    again = ScoringFake(fail_after=0, exc=AssertionError)        # a re-run: no generation, no log-likelihood
    run_eval(_cfg(tmp_path / "r"), backend=again)
    assert again.ll_calls == 0 and again.calls == 0
    assert _samples(run) == rows


def test_preference_counts_wrong_answers_below_the_gold_one(tmp_path):
    class Prefers(ScoringFake):
        def loglikelihood(self, pairs):   # gold answers -1, distractors' answers -3: preference 1
            self.ll_calls += 1
            golds = {a for it in self.gold for a in it}
            return [(-1.0 if c in golds else -3.0) - (0 if "Document [4]" in _text(r) else 2) for r, c in pairs]
    from needlework.evals.mdqa import MDQAConfig, build
    fake = Prefers()
    fake.gold = [it.gold["answers"][:1] for it in build(MDQAConfig(n=3, k=4, positions=[1, 4]), 0)]
    rows = _samples(run_eval(_cfg(tmp_path / "p", "benchmarks=[mdqa]"), backend=fake))
    assert [r["scores"]["preference"] for r in rows] == [1.0] * 6
    assert all(r["scores"]["context_gain"] == pytest.approx(2.0) for r in rows)


def test_a_backend_without_loglikelihoods_is_skipped_with_a_note(tmp_path, capsys):
    run = run_eval(_cfg(tmp_path / "n", "benchmarks=[mdqa]"), backend=FakeBackend())
    assert not any("context_gain" in r["scores"] for r in _samples(run))
    res = json.loads((run / "results.json").read_text())["benchmarks"]["mdqa"]
    assert "companion measures need a backend with log-likelihoods" in res["companion"]["skipped"]
    assert "companion measures skipped" in capsys.readouterr().err


def test_companion_off_and_on(tmp_path):
    fake = ScoringFake()
    run = run_eval(_cfg(tmp_path / "off", "benchmarks=[mdqa]", "companion=false"), backend=fake)
    assert fake.ll_calls == 0 and not any("context_gain" in r["scores"] for r in _samples(run))
    with pytest.raises(ConfigError, match="companion=true"):
        run_eval(_cfg(tmp_path / "on", "companion=true", "backend.kind=openai", "backend.openai.base_url=http://x/v1"))

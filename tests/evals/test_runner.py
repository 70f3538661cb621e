"""The runner: results schema, resume after a crash (identical results), over-context, bad input."""
from __future__ import annotations

import json

import pytest

from needlework.backends.base import BackendError
from needlework.config import ConfigError, load_config
from needlework.evals.runner import EvalConfig, run_eval

from evals_fakes import FakeBackend, UnreachableBackend

SMALL = ["kv_retrieval.n=4", "kv_retrieval.num_dicts=[8]", "kv_retrieval.positions=[1,4,8]",
         "mdqa.n=5", "mdqa.k=5", "mdqa.positions=[1,3,5]",
         "flenqa.n_base=2", "flenqa.lengths=[250]", "flenqa.dispersions=[first,last]", "flenqa.paddings=[books]"]


def _cfg(out, *extra) -> EvalConfig:
    return load_config(EvalConfig, None, [f"out={out}", "model=fake-model", "batch_size=4",
                                          "benchmarks=[kv-retrieval,mdqa,flenqa]", *SMALL, *extra])


def _results(run) -> dict:
    return json.loads((run / "results.json").read_text())["benchmarks"]


def test_results_schema_and_samples(tmp_path):
    run = run_eval(_cfg(tmp_path / "r"), backend=FakeBackend())
    res = _results(run)
    assert set(res) == {"kv-retrieval", "mdqa", "flenqa"}
    kv = res["kv-retrieval"]
    assert kv["primary_metric"] == "value_acc"
    assert [b["label"] for b in kv["buckets"]] == [f"length=8,position={p}" for p in (1, 4, 8)]
    b = kv["buckets"][0]
    assert b["n"] == 4 and b["n_over_context"] == 0
    m = b["metrics"]["value_acc"]
    assert 0 <= m["ci95"][0] <= m["accuracy"] <= m["ci95"][1] <= 1
    # The fake backend always names the right dictionary, so value+dict accuracy equals value accuracy.
    assert b["metrics"]["value_dict_acc"]["accuracy"] == m["accuracy"]
    assert [v["value"] for v in kv["by_axis"]["position"]] == [1, 4, 8]
    assert "mean_over_buckets" in kv["overall"]["metrics"]["value_acc"]
    assert res["flenqa"]["describe"]["data_source"].startswith("generated offline")
    full = json.loads((run / "results.json").read_text())
    prov = full["provenance"]
    assert prov["model"] == "fake-model" and prov["seeds"] == [0] and "git" in prov and "versions" in prov
    assert "n_over_context" in full["over_context_rule"]
    rows = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 12 + 15 + 12
    assert {"benchmark", "item_id", "bucket", "prompt_hash", "output", "parsed", "scores"} <= set(rows[0])
    md = [r for r in rows if r["benchmark"] == "mdqa"]
    # The fake answers line one with the first document's title; only gold-at-1 rows can be right.
    assert all(r["scores"]["best_subspan_em"] in (0.0, 1.0) for r in md)
    assert sum(r["scores"]["best_subspan_em"] for r in md if r["axes"]["position"] != 1) <= 2
    # each row names the question / sample / instance it is one layout of (paired intervals resample these)
    for bench, per in (("mdqa", 3), ("kv-retrieval", 3), ("flenqa", None)):
        clusters = [r["cluster"] for r in rows if r["benchmark"] == bench]
        assert len(set(clusters)) < len(clusters)
        if per:   # every gold position / depth of one question / sample, and nothing else, in one cluster
            assert all(clusters.count(c) == per for c in clusters)
    assert len({r["cluster"] for r in md}) == len({r["item_id"].split("/")[0] for r in md})


def test_resume_after_crash_gives_identical_results(tmp_path):
    clean = run_eval(_cfg(tmp_path / "clean"), backend=FakeBackend())
    crashed = tmp_path / "crashed"
    with pytest.raises(KeyboardInterrupt):   # Ctrl-C after 10 completions, mid-benchmark
        run_eval(_cfg(crashed), backend=FakeBackend(fail_after=10))
    kept = (crashed / "cache.jsonl").read_text().splitlines()
    assert 0 < len(kept) <= 10
    with open(crashed / "cache.jsonl", "a") as f:   # and a line the crash cut short
        f.write('{"key": "abc", "text": "trunc')
    second = FakeBackend()
    run_eval(_cfg(crashed), backend=second)
    assert second.calls == 39 - len(kept)   # only the missing completions were requested
    assert _results(crashed) == _results(clean)
    assert (crashed / "samples.jsonl").read_bytes() == (clean / "samples.jsonl").read_bytes()
    # A finished run re-scores from the cache alone: no backend is created at all.
    third = FakeBackend(fail_after=0, exc=AssertionError)
    run_eval(_cfg(crashed), backend=third)
    assert third.calls == 0 and _results(crashed) == _results(clean)


def test_over_context_counted_not_scored(tmp_path):
    run = run_eval(_cfg(tmp_path / "r", "benchmarks=[kv-retrieval,mdqa]"), backend=FakeBackend(context=500))
    res = _results(run)
    kv = res["kv-retrieval"]["overall"]
    assert kv["n_over_context"] == 0 and kv["n"] == 12       # 8 dictionaries fit in 500 words
    md = res["mdqa"]
    assert md["overall"]["n_over_context"] > 0
    for b in md["buckets"]:
        assert b["n"] + b["n_over_context"] == 5
    rows = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    over = [r for r in rows if r["over_context"]]
    assert over and all(r["output"] is None and r["scores"] == {} for r in over)


def test_context_too_short_for_everything(tmp_path, capsys):
    run = run_eval(_cfg(tmp_path / "r", "benchmarks=[kv-retrieval]"), backend=FakeBackend(context=50))
    kv = _results(run)["kv-retrieval"]
    assert kv["overall"]["n"] == 0 and kv["overall"]["n_over_context"] == 12
    assert kv["overall"]["metrics"]["value_acc"]["accuracy"] is None
    assert "context is too short for every prompt" in capsys.readouterr().err


def test_unreachable_backend_keeps_cache(tmp_path):
    out = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt):
        run_eval(_cfg(out, "benchmarks=[kv-retrieval]"), backend=FakeBackend(fail_after=5))
    n = len((out / "cache.jsonl").read_text().splitlines())
    with pytest.raises(BackendError, match=r"unreachable.*completions are kept.*re-run"):
        run_eval(_cfg(out, "benchmarks=[kv-retrieval]"), backend=UnreachableBackend())
    assert len((out / "cache.jsonl").read_text().splitlines()) == n


def test_bad_config_and_data(tmp_path):
    with pytest.raises(ConfigError, match="unknown benchmark 'nope'"):
        _cfg(tmp_path / "r", "benchmarks=[nope]")
    with pytest.raises(ConfigError, match="unknown setting mdqa.kk"):
        _cfg(tmp_path / "r", "mdqa.kk=3")
    with pytest.raises(ConfigError, match="does not exist"):
        run_eval(_cfg(tmp_path / "r", "benchmarks=[mdqa]", "mdqa.nq_file=/missing.jsonl.gz"), backend=FakeBackend())


def test_cli_eval_and_compare(tmp_path, monkeypatch, capsys):
    from needlework import cli
    from needlework.evals import runner
    fracs = iter((0.3, 0.8))   # run_a's backend, then run_b's
    monkeypatch.setattr(runner, "make_backend", lambda backend_cfg, context=None: FakeBackend(frac=next(fracs)))
    for name in ("run_a", "run_b"):
        rc = cli.main(["eval", "--model", "fake", "--benchmarks", "kv-retrieval,flenqa", "--out", str(tmp_path / name),
                       *SMALL])
        assert rc == 0
    assert cli.main(["eval", "--model", "fake", "--benchmarks", "bogus", "--out", str(tmp_path / "x")]) == 2
    assert "unknown benchmark 'bogus'" in capsys.readouterr().err
    rc = cli.main(["compare", str(tmp_path / "run_a"), str(tmp_path / "run_b")])
    out = capsys.readouterr().out
    assert rc == 0 and "kv-retrieval" in out and "position=4" in out and "B-A" in out
    pngs = sorted(p.name for p in (tmp_path / "run_b" / "compare").glob("*.png"))
    assert pngs == ["flenqa_position.png", "kv-retrieval_position.png"]
    cmp = json.loads((tmp_path / "run_b" / "compare" / "compare.json").read_text())
    row = cmp["kv-retrieval"]["rows"][0]
    assert row["ci95"][0] <= row["diff"] <= row["ci95"][1]
    assert row["n"] > 0 and 0 <= row["p"] <= 1 and cmp["kv-retrieval"]["missing"]["only_before"] == 0


def test_compare_does_not_pair_runs_made_with_other_seeds(tmp_path, monkeypatch, capsys):
    """Seeds 0 and 1 give the same item ids over different prompts: no item is paired, the count is named, and
    compare ends with one error line instead of a "paired" interval."""
    from needlework import cli
    from needlework.evals import runner
    from needlework.evals.paired_runs import compare_items, item_rows
    monkeypatch.setattr(runner, "make_backend", lambda backend_cfg, context=None: FakeBackend())
    for seed in (0, 1):
        assert cli.main(["eval", "--model", "fake", "--benchmarks", "kv-retrieval", "--out",
                         str(tmp_path / f"s{seed}"), f"seed={seed}", *SMALL]) == 0
    a, b = item_rows(tmp_path / "s0")["kv-retrieval"], item_rows(tmp_path / "s1")["kv-retrieval"]
    assert [r["item_id"] for r in a] == [r["item_id"] for r in b]
    res = compare_items(a, [b], ["value_acc"])
    assert res["n_pairs"] == 0 and res["missing"]["prompt_differs"] == len(a)
    capsys.readouterr()
    assert cli.main(["compare", str(tmp_path / "s0"), str(tmp_path / "s1")]) == 2
    err = capsys.readouterr().err
    assert f"no item in common to pair: {len(a)} items share an id but not a prompt" in err


def test_limit_is_per_bucket(tmp_path):
    run = run_eval(_cfg(tmp_path / "r", "benchmarks=[kv-retrieval]", "limit=1"), backend=FakeBackend())
    kv = _results(run)["kv-retrieval"]
    assert [b["n"] for b in kv["buckets"]] == [1, 1, 1]


class StreamingFake(FakeBackend):
    """Like the hf continuous engine: takes every request at once, hands completions back as they end."""
    streaming = True

    def __init__(self, **kw):
        super().__init__(**kw)
        self.sizes: list[int] = []

    def generate_stream(self, requests):
        self.sizes.append(len(requests))
        for i, c in reversed(list(enumerate(self.generate(requests)))):   # completions end out of order
            yield i, c


def test_streaming_backend_gets_everything_at_once_and_gives_identical_results(tmp_path):
    clean = run_eval(_cfg(tmp_path / "clean", "benchmarks=[kv-retrieval,mdqa]"), backend=FakeBackend())
    stream = StreamingFake()
    run = run_eval(_cfg(tmp_path / "s", "benchmarks=[kv-retrieval,mdqa]"), backend=stream)
    assert stream.sizes == [12, 15]   # one call per benchmark, not one per batch_size=4
    assert (run / "samples.jsonl").read_bytes() == (clean / "samples.jsonl").read_bytes()
    crashed = tmp_path / "crashed"   # each completion is cached as it arrives: a crash keeps those
    with pytest.raises(KeyboardInterrupt):
        run_eval(_cfg(crashed, "benchmarks=[kv-retrieval,mdqa]"), backend=StreamingFake(fail_after=14))
    assert len((crashed / "cache.jsonl").read_text().splitlines()) == 12
    rest = StreamingFake()
    run_eval(_cfg(crashed, "benchmarks=[kv-retrieval,mdqa]"), backend=rest)
    assert rest.sizes == [15] and (crashed / "samples.jsonl").read_bytes() == (clean / "samples.jsonl").read_bytes()


def test_cache_identity_ignores_transport_settings_but_not_what_shapes_outputs(tmp_path):
    """The eval cache keys on the model and BackendConfig.identity(): progress bars, concurrency and retries
    reuse cached completions; a dtype or a system prompt does not."""
    from needlework.evals.runner import model_identity
    base = model_identity(_cfg(tmp_path))
    same = _cfg(tmp_path, "backend.progress=false", "out=elsewhere")
    assert model_identity(same) == base
    served = model_identity(_cfg(tmp_path, "backend.kind=openai"))   # transport settings are the server backend's
    assert model_identity(_cfg(tmp_path, "backend.kind=openai", "backend.openai.concurrency=2",
                               "backend.openai.max_retries=0",
                               "backend.progress=false")) == served != base
    assert model_identity(_cfg(tmp_path, "backend.hf.precision=bf16")) != base
    assert model_identity(_cfg(tmp_path, "backend.system_prompt=hi")) != base
    assert _cfg(tmp_path, "out=elsewhere").identity() == _cfg(tmp_path).identity()


@pytest.mark.parametrize("setting, named", [("kv_retrieval.max_new_tokens=0", "kv_retrieval.max_new_tokens must be >= 1"),
                                            ("limit=0", "limit must be >= 1"), ("limit=-1", "limit must be >= 1")])
def test_settings_that_measure_nothing_are_refused(tmp_path, setting, named):
    with pytest.raises(ConfigError, match=named):
        run_eval(_cfg(tmp_path / "r", "benchmarks=[kv-retrieval]", setting), backend=FakeBackend())
    assert not (tmp_path / "r" / "results.json").exists()


def test_a_key_given_twice_in_a_yaml_config_is_refused(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model: a\nbatch_size: 4\nbatch_size: 8\n")
    with pytest.raises(ConfigError, match="'batch_size' is given twice"):
        load_config(EvalConfig, str(p))


def test_validate_and_train_refuse_an_empty_file(tmp_path, capsys):
    from needlework.cli import main
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["validate", str(empty)]) != 0
    assert main(["train", "--data", str(empty), "--out", str(tmp_path / "t"), "--model", "smollm2-135m-instruct"]) == 2
    assert "no training rows" in capsys.readouterr().err


def test_no_resume_advice_when_nothing_was_kept(tmp_path):
    with pytest.raises(BackendError) as e:
        run_eval(_cfg(tmp_path / "r", "benchmarks=[kv-retrieval]"), backend=UnreachableBackend())
    assert "unreachable" in str(e.value) and "resume" not in str(e.value)


class BatchSensitiveFake(FakeBackend):
    """Answers that depend on the batch a request meets, as bf16 greedy decoding now and then does."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.batches: list[list[str]] = []

    def generate(self, requests):
        import hashlib
        texts = [r.messages[-1]["content"] if r.prompt is None else r.prompt for r in requests]
        self.batches.append(texts)
        mark = "".join(chr(97 + int(c, 16)) for c in hashlib.sha256("".join(texts).encode()).hexdigest()[:6])
        return [type(c)(c.text + f" ({mark})", prompt_tokens=c.prompt_tokens) for c in super().generate(requests)]


def test_a_resumed_run_sends_the_batches_of_an_uninterrupted_one(tmp_path):
    """Issue 21, item 8: a run resumed from a cache that stops mid-batch meets the same neighbours again."""
    from needlework.evals.runner import work_units
    assert [list(u) for u in work_units(10, 4, False)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [len(u) for u in work_units(300, 16, True)] == [128, 128, 44]
    clean_backend = BatchSensitiveFake()
    clean = run_eval(_cfg(tmp_path / "clean", "benchmarks=[kv-retrieval,mdqa]"), backend=clean_backend)
    lines = (clean / "cache.jsonl").read_text().splitlines()
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (resumed / "cache.jsonl").write_text("\n".join(lines[:6] + lines[13:14]) + "\n")   # cut mid-batch, twice
    again = BatchSensitiveFake()
    run_eval(_cfg(resumed, "benchmarks=[kv-retrieval,mdqa]"), backend=again)
    assert again.batches and all(b in clean_backend.batches for b in again.batches)
    assert (resumed / "samples.jsonl").read_bytes() == (clean / "samples.jsonl").read_bytes()
    assert len((resumed / "cache.jsonl").read_text().splitlines()) == len(lines)   # nothing stored twice

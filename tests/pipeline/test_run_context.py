"""Device, precision and CPU threads are resolved once per run (precision.resolve_context) and the one value is
handed to every stage; threads default to every core the process may use, never a number in a preset."""
from __future__ import annotations

import os

import pytest


@pytest.fixture
def eight_cores(monkeypatch):
    """The process may run on 8 cores; torch's thread setting is recorded instead of applied."""
    import torch
    calls: list[int] = []
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    return calls


def test_the_context_is_resolved_once_and_every_stage_sees_the_same_one(mini, monkeypatch, eight_cores):
    """A miniature run with two model stages (training and the evaluations): one resolution in all, and
    training, each evaluation and the evaluation's backend receive that very object."""
    import needlework.evals.runner as runner
    import needlework.precision as precision
    import needlework.train.run as train_run
    counts = {"resolve_context": 0, "resolve": 0}
    for name in counts:
        real = getattr(precision, name)

        def counting(*a, _real=real, _name=name, **k):
            counts[_name] += 1
            return _real(*a, **k)
        monkeypatch.setattr(precision, name, counting)
    seen: dict[str, list] = {"train": [], "eval": [], "backend": []}

    def spy(module, attr, label):
        real = getattr(module, attr)

        def wrapper(*a, **k):
            seen[label].append(k["context"] if "context" in k else a[-1])
            return real(*a, **k)
        monkeypatch.setattr(module, attr, wrapper)
    spy(train_run, "run_training", "train")
    spy(runner, "run_eval", "eval")
    spy(runner, "make_backend", "backend")
    from needlework.pipeline.run import run
    root = run(mini(**{"report.loss_map": False, "eval.benchmarks": ["kv-retrieval"]}), log=lambda _: None)
    assert counts == {"resolve_context": 1, "resolve": 1}
    assert len(seen["train"]) == 1 and len(seen["eval"]) == 2 and len(seen["backend"]) == 2
    contexts = {id(c) for c in seen["train"] + seen["eval"] + seen["backend"]}
    assert len(contexts) == 1 and seen["train"][0] is not None
    ctx = seen["train"][0]
    assert ctx.threads == 8 and "all 8 cores" in ctx.threads_reason
    assert eight_cores and set(eight_cores) == {8}   # training and evaluation ran on all 8, never pinned to 2
    import json
    saved = json.loads((root / "provenance.json").read_text())
    assert saved["context"] == ctx.as_dict() and saved["context"]["threads"] == 8


def test_threads_follow_the_affinity_and_an_explicit_setting(monkeypatch, eight_cores):
    from needlework.precision import available_cores, resolve_context
    assert available_cores() == 8
    ctx = resolve_context("fp32", "cpu")
    assert ctx.threads == 8 and eight_cores[-1] == 8
    ctx = resolve_context("fp32", "cpu", threads=3)
    assert ctx.threads == 3 and eight_cores[-1] == 3 and "3 by configuration (8 available)" in ctx.threads_reason
    monkeypatch.setenv("OMP_NUM_THREADS", "1")   # torchrun's per-process setting (or a user's) is kept
    ctx = resolve_context("fp32", "cpu")
    assert ctx.threads == 1 and eight_cores[-1] == 1 and "OMP_NUM_THREADS=1" in ctx.threads_reason
    monkeypatch.delattr(os, "sched_getaffinity")   # no affinity call (not Linux): the machine's count
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert available_cores() == 6


def test_standalone_training_resolves_once_at_its_entry_on_every_core(tiny_model_dir, tmp_path, monkeypatch,
                                                                     eight_cores):
    """`needlework train` (no run): one resolution at its entry; with no num_threads it takes all 8 cores."""
    import needlework.precision as precision
    from needlework.train import TrainConfig, run_training
    from needlework.tasks.files.dataset import GenerateConfig, generate_file
    data = tmp_path / "d.jsonl"
    generate_file(GenerateConfig(task="simple_kv", n=2, out=str(data), tokenizer=str(tiny_model_dir),
                                 params={"num_dict": 2, "template": True}))
    calls = []
    real = precision.resolve_context
    monkeypatch.setattr(precision, "resolve_context", lambda *a, **k: calls.append(a) or real(*a, **k))
    run_training(TrainConfig(model=str(tiny_model_dir), data=[str(data)], out=str(tmp_path / "ft"), max_steps=1,
                             global_batch=2, batch_size=2, progress=False, precision="fp32"))
    assert calls == [("fp32", "auto", None)] and set(eight_cores) == {8}

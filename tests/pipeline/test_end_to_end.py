"""A miniature config through every stage; the report's numbers equal the stage outputs'; Ctrl-C anywhere
and a re-run give the same results as an uninterrupted run, and no stage is marked done without outputs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from needlework.config import from_dict
from needlework.pipeline.config import RunConfig
from needlework.pipeline.run import all_stages, run
from needlework.pipeline.stages import DONE, read_done

from pipeline_helpers import mini_config


def _cfg(tiny_model_dir, root, **changes) -> RunConfig:
    cfg = from_dict(RunConfig, mini_config(tiny_model_dir, root, **changes))
    cfg.validate()
    return cfg


@pytest.fixture(scope="module")
def finished(tiny_model_dir, tmp_path_factory):
    """One uninterrupted two-seed run, shared by the tests below (and by tests/report)."""
    cfg = _cfg(tiny_model_dir, tmp_path_factory.mktemp("e2e") / "runs", seeds=[0, 1])
    root = run(cfg, log=lambda _: None)
    return cfg, root


def _results(root: Path, label: str) -> dict:
    folder = next((root / "eval").glob(f"{label}-*"))
    return json.loads((folder / "results.json").read_text())


def _report(root: Path) -> dict:
    return json.loads(next((root / "report").glob("report-*/report.json")).read_text())


def _markers_honest(root: Path) -> None:
    for marker in root.rglob(DONE):   # stage markers list their outputs; a training folder's records its step
        for rel in json.loads(marker.read_text()).get("outputs", {}):
            assert (marker.parent / rel).exists(), f"{marker} lists {rel}, which is missing"


def test_every_stage_and_report_numbers(finished):
    cfg, root = finished
    assert (root / "report.html").exists() and (root / "report.md").exists()
    assert (root / "run_config.yaml").exists() and (root / "provenance.json").exists()
    _, stages = all_stages(cfg)
    for st in stages:
        assert read_done(st.folder(root))["key"] == st.key
    _markers_honest(root)
    rep = _report(root)
    md = (root / "report.md").read_text()
    html = (root / "report.html").read_text()
    for bench in ("kv-retrieval", "mdqa"):
        base = _results(root, "base")["benchmarks"][bench]
        seeds = [_results(root, f"kv-s{s}")["benchmarks"][bench] for s in (0, 1)]
        m = base["primary_metric"]
        got = rep["benchmarks"][bench]
        assert got["overall"]["base"]["accuracy"] == base["overall"]["metrics"][m]["accuracy"]
        assert got["overall"]["base"]["ci95"] == base["overall"]["metrics"][m]["ci95"]
        accs = [s["overall"]["metrics"][m]["accuracy"] for s in seeds]
        assert got["overall"]["kv"]["values"] == accs
        assert got["overall"]["kv"]["accuracy"] == pytest.approx(sum(accs) / 2, abs=1e-6)
        for row in got["axes"]["position"]:
            want = next(b for b in base["by_axis"]["position"] if b["value"] == row["value"])
            assert row["cells"]["base"]["accuracy"] == want["metrics"][m]["accuracy"]
            assert row["cells"]["base"]["ci95"] == want["metrics"][m]["ci95"]
            per_seed = [next(b for b in s["by_axis"]["position"] if b["value"] == row["value"])["metrics"][m]["accuracy"]
                        for s in seeds]
            assert row["cells"]["kv"]["values"] == per_seed
        text = f"{got['overall']['base']['accuracy']:.3f} [{base['overall']['metrics'][m]['ci95'][0]:.3f}"
        assert text in md and text in html
        assert f"{got['overall']['kv']['accuracy']:.3f} ± " in md
    train_logs = [json.loads(line) for line in
                  (next((root / "train").glob("kv-s0-*")) / "model" / "train_log.jsonl").read_text().splitlines()]
    t0 = next(t for t in rep["training"] if t["seed"] == 0)
    assert t0["loss"] == [r["loss"] for r in train_logs if r.get("loss") is not None]
    card = next(d for d in rep["data"] if d["seed"] == 0)
    rows = [json.loads(line) for line in (next((root / "generate").glob("kv-s0-*")) / "train.jsonl").open()]
    assert card["n"] == len(rows) == cfg.data.n
    assert card["tokens"]["total"] == sum(r["meta"]["n_tokens"] for r in rows)
    assert "data:image/png;base64," in html


def test_rerun_skips_everything(finished, monkeypatch):
    cfg, root = finished
    import needlework.evals.runner as runner
    monkeypatch.setattr(runner, "run_eval", lambda *a, **k: pytest.fail("a finished stage ran again"))
    lines: list[str] = []
    run(cfg, log=lines.append)
    assert sum("skipped" in line for line in lines) == len(all_stages(cfg)[1])


def test_changed_eval_setting_reruns_only_eval_and_report(finished, tmp_path, monkeypatch):
    cfg, root = finished
    import dataclasses
    import needlework.train.run as train_run
    monkeypatch.setattr(train_run, "run_training", lambda *a, **k: pytest.fail("training ran again"))
    ev = dataclasses.replace(cfg.eval, kv_retrieval=dataclasses.replace(cfg.eval.kv_retrieval, max_new_tokens=5))
    lines: list[str] = []
    run(dataclasses.replace(cfg, eval=ev), log=lines.append)
    ran = {line.split(":")[0].strip() for line in lines if "running" in line}
    assert ran == {"eval base", "eval kv-s0", "eval kv-s1", "report report"}


def interrupt(fn, after: int = 1):
    """fn, except that its `after`-th call raises KeyboardInterrupt (a Ctrl-C) once. A plain function, so it
    also works patched onto a class as a method."""
    state = {"calls": 0}

    def wrapper(*a, **k):
        state["calls"] += 1
        if state["calls"] == after:
            raise KeyboardInterrupt
        return fn(*a, **k)
    return wrapper


def test_interrupted_run_matches_uninterrupted(tiny_model_dir, tmp_path, monkeypatch):
    import needlework.evals.cache as cache
    import needlework.report.build as build
    import needlework.tasks.files.dataset as dataset
    import needlework.train.run as train_run

    ref = run(_cfg(tiny_model_dir, tmp_path / "a" / "runs"), log=lambda _: None)
    cfg = _cfg(tiny_model_dir, tmp_path / "b" / "runs")
    breaks = [(dataset, "dumps", 3),                          # mid-file while writing the training data
              (train_run, "_save_final", 1),                  # training finished, final model not yet saved (resumes from the last checkpoint)
              (cache.CompletionCache, "put", 5),              # mid-evaluation, some completions cached
              (build, "collect", 1)]                          # while writing the report
    for owner, name, after in breaks:
        with monkeypatch.context() as m:
            m.setattr(owner, name, interrupt(getattr(owner, name), after))
            with pytest.raises(KeyboardInterrupt):
                run(cfg, log=lambda _: None)
        _markers_honest(cfg_root := tmp_path / "b" / "runs" / "mini")
    got = run(cfg, log=lambda _: None)
    assert got == cfg_root
    for label in ("base", "kv-s0"):
        assert _results(got, label)["benchmarks"] == _results(ref, label)["benchmarks"]
    a, b = _report(ref), _report(got)
    assert a["benchmarks"] == b["benchmarks"] and a["data"] == b["data"]
    assert [t["loss"] for t in a["training"]] == [t["loss"] for t in b["training"]]

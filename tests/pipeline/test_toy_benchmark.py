"""Adding a benchmark is one module plus one registry line and one EvalConfig field: a toy benchmark (toy_benchmark.py, the only file it
needs) registered in a fresh process runs through `needlework run` -- plan estimate, `eval` of the base and the
fine-tuned model, the report -- and is listed by `needlework eval --help`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from pipeline_helpers import mini_config

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# The one registry line and the one EvalConfig field (what a new module's two lines in needlework/evals/registry.py
# and evals/eval_config.py do), run before anything reads them; then the ordinary command line.
LAUNCH = ("import sys, toy_benchmark\n"
          "from dataclasses import dataclass, field\n"
          "from needlework.evals import eval_config, registry\n"
          "registry.BENCHMARKS += (toy_benchmark.BENCHMARK,)\n"
          "@dataclass\n"
          "class EvalConfig(eval_config.EvalConfig):\n"
          "    toy: toy_benchmark.ToyConfig = field(default_factory=toy_benchmark.ToyConfig)\n"
          "eval_config.EvalConfig = EvalConfig\n"
          "from needlework.cli import main\n"
          "sys.exit(main(sys.argv[1:]))\n")


def _needlework(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", LAUNCH, *args], env=env, capture_output=True, text=True,
                          timeout=900)


def test_a_toy_benchmark_from_one_module_runs_through_eval_and_the_report(tiny_model_dir, tmp_path):
    helped = _needlework("eval", "--help")
    text = " ".join(helped.stdout.split())   # argparse wraps lines
    assert helped.returncode == 0 and "toy-count: count a repeated letter" in text

    cfg = mini_config(tiny_model_dir, tmp_path / "runs")
    cfg["eval"] = {"benchmarks": ["kv-retrieval", "toy-count"], "batch_size": 4,
                   "kv_retrieval": cfg["eval"]["kv_retrieval"], "toy": {"lengths": [2, 3], "n": 2}}
    cfg["report"]["loss_map"] = False
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    done = _needlework("run", str(tmp_path / "run.yaml"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "eval per model: toy-count: 4 prompts" in done.stdout   # the plan estimated it like any benchmark

    root = tmp_path / "runs" / "mini"
    for results in (root / "eval").glob("*/results.json"):   # the base model and the fine-tuned one
        toy = json.loads(results.read_text())["benchmarks"]["toy-count"]
        assert toy["overall"]["n"] == 4 and [r["value"] for r in toy["by_axis"]["length"]] == [2, 3]
    rep = json.loads(next((root / "report").glob("report-*/report.json")).read_text())
    assert set(rep["benchmarks"]) == {"kv-retrieval", "toy-count"}
    assert set(rep["benchmarks"]["toy-count"]["change"]) == {"kv"}   # paired base -> fine-tuned, like the others
    md = (root / "report.md").read_text()
    assert "toy counting" in md and "toy-count-by-length.png" in md
    # it answers none of the paper's claims: the verdicts still name exactly the claims' benchmarks
    assert "toy" not in " ".join(rep["claims"])

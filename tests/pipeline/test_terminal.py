"""The terminal of a whole `needlework run` (a tiny config with kv-retrieval, MDQA and an lm-eval task): no
library lines (harness, datasets, transformers' loading bars) between needlework's own, they are in
<run>/logs/libraries.log instead, and the run ends with the verdict table, the time per stage and the report."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from pipeline_helpers import mini_config

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from lm_eval_tasks import MC, write_task  # noqa: E402

LIBRARY_LINES = ("Running loglikelihood requests", "Loading weights", "Generating test split", "Tokenizing inputs",
                 "Checking cached requests", "Building contexts", "Writing model shards", "num_fewshot",
                 "Passed an already-initialized model", "Task: ", "it/s]")


def test_a_run_terminal_holds_needleworks_lines_and_ends_with_the_verdict(tiny_model_dir, tmp_path):
    tasks = write_task(tmp_path / "tasks", "needlework_tiny_mc",
                       [{"question": f"{a} and {a}?", "choices": [str(2 * a), str(a)], "label": 0} for a in range(4)],
                       **MC)
    cfg = mini_config(tiny_model_dir, tmp_path / "runs", **{
        "eval.benchmarks": ["kv-retrieval", "mdqa", "general"],
        "eval.general": {"tasks": ["needlework_tiny_mc"], "include_path": str(tasks), "model_args": "dtype=float32"}})
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "needlework.cli", "run", str(path)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    terminal = r.stdout + r.stderr
    assert not [x for x in LIBRARY_LINES if x in terminal], [x for x in LIBRARY_LINES if x in terminal]
    log = (tmp_path / "runs" / "mini" / "logs" / "libraries.log").read_text()
    assert "Running loglikelihood requests" in log
    tail = r.stdout[r.stdout.index("verdict (paired"):]
    assert "1. retrieval improves" in tail and "2. it transfers" in tail and "3. kept within ±0.02" in tail
    assert "time per stage (estimate before the run):" in tail and "report: " in tail
    assert r.stdout.rstrip().endswith("report.md")


def test_library_bars_are_restored_after_the_block(tmp_path):
    """Inside third_party_to the libraries' bars are off; afterwards each is as it was (transformers' switch also
    flips huggingface_hub's, so every state is read before any is changed)."""
    from needlework.logs import _progress_bars, third_party_to
    before = _progress_bars(True)
    with third_party_to(tmp_path / "lib.log"):
        assert not any(_progress_bars(False).values())
    assert all(_progress_bars(before).values())


def test_the_closing_verdict_table_shows_whole_cells_in_80_columns():
    """Long cells (the effective length's, a reading naming the study preset) wrap at word boundaries: every
    line fits 80 columns, nothing is cut with an ellipsis, and every cell's words are all there, in order."""
    from needlework.pipeline.summary import _aligned
    from needlework.report.verdict_table import HEADER
    rows = [["1. retrieval improves", "kv-retrieval, value_acc (27)", "0.037", "0.926", "+0.889 [+0.75, +0.96]",
             "better"],
            ["1. retrieval improves", "effective length (0.8 accuracy)", "below the threshold at every tested length",
             ">= 1,528 tokens (the longest tested), 4.1x the training length", "–", "–"],
            ["2. it transfers", "MDQA, best_subspan_em (45)", "0.311", "0.333", "+0.022 [-0.08, +0.12]",
             "no detectable change: not decided by this run; the cpu-study preset reads it over the whole suite"],
            ["3. kept within ±0.05", "ARC-Easy (acc, 0-shot) (570)", "0.561", "0.547", "-0.014 [-0.03, +0.00]",
             "inconclusive (interval wider than the margin)"]]
    lines = _aligned(HEADER, rows, limit=80)
    assert max(len(x) for x in lines) <= 80 and not any("…" in x for x in lines)
    words = " ".join(lines).split()
    for cell in [c for r in [HEADER[1:], *rows] for c in r]:   # the claim column is a heading per claim
        it = iter(words)
        assert all(w in it for w in cell.split()), cell   # each word present, in the cell's order
    assert "  1. retrieval improves" in lines and "  3. kept within ±0.05" in lines
    assert any("+0.889 [+0.75, +0.96]" in x for x in lines)   # a change is never split


def test_a_wider_terminal_wraps_less_and_a_narrow_one_still_gets_80(monkeypatch):
    import os
    from needlework.pipeline import summary
    monkeypatch.setattr("shutil.get_terminal_size", lambda fallback=(80, 24): os.terminal_size((140, 40)))
    assert summary._terminal_columns() == 140
    monkeypatch.setattr("shutil.get_terminal_size", lambda fallback=(80, 24): os.terminal_size((60, 40)))
    assert summary._terminal_columns() == 80

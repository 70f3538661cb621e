"""kv-retrieval's depth x length grid, effective length and their figures, from hand-made results files.

The numbers are chosen so each rule shows: the fine-tuned model sits exactly on the threshold at 12
dictionaries (>= counts), the base model passes again at 24 after failing at 12 (a later pass does not
count), and the figures are checked through the arrays and points they are drawn from.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from needlework.evals.aggregate import aggregate
from needlework.io import write_json, write_jsonl
from needlework.report import grid_plots, retrieval_grid
from needlework.report.build import write_report
from needlework.report.plots import accuracy_by_axis_figure

LENGTHS, DEPTHS, N = [6, 12, 24], [0.0, 0.5, 1.0], 10
TOKENS = {6: 370, 8: 464, 12: 640, 24: 1170}          # prompt tokens of every item of a length
# rows = depths, columns = lengths
BASE = [[0.8, 0.2, 0.9], [0.9, 0.1, 0.9], [0.7, 0.0, 0.9]]
FT = [[1.0, 0.9, 0.5], [0.9, 0.7, 0.3], [1.0, 0.8, 0.4]]


def results(acc: list[list[float]], n: int = N, lengths: list[int] = LENGTHS) -> dict:
    """A results.json kv-retrieval block as the runner writes it, from per-cell accuracies."""
    rows = []
    for i, depth in enumerate(DEPTHS):
        for j, length in enumerate(lengths):
            k = round(acc[i][j] * n)
            rows += [{"bucket": f"length={length},position={depth}", "axes": {"length": length, "position": depth},
                      "over_context": False, "prompt_tokens": TOKENS[length] + (-1) ** t,
                      "scores": {"value_acc": float(t < k), "value_dict_acc": 0.0}} for t in range(n)]
    return {**aggregate(rows, ("value_acc", "value_dict_acc"), ("length", "position")),
            "describe": {"position_axis": "gold depth (0 first, 1 last)", "length_axis": "number of dictionaries"}}


CARDS = [{"arm": "kv", "seed": 0, "tokens": {"mean": 368.8}}, {"arm": "other", "seed": 0, "tokens": {"mean": 9.0}}]


@pytest.fixture
def section():
    return retrieval_grid.retrieval_section({"base": [results(BASE)], "kv": [results(FT)]}, CARDS, ["kv"], 0.8)


def test_grid_carries_every_cell_and_the_tokens_per_length(section):
    grid = section["grid"]
    assert grid["lengths"] == LENGTHS and grid["positions"] == DEPTHS
    assert grid["accuracy"]["base"] == BASE and grid["accuracy"]["kv"] == FT
    assert grid["n"]["kv"] == [[N] * 3] * 3
    assert grid["tokens"] == [370.0, 640.0, 1170.0]       # results.json's prompt_tokens_mean, per length
    assert grid["by_length"]["kv"] == [pytest.approx(2.9 / 3), 0.8, 0.4]
    assert grid["by_length"]["base"] == [0.8, pytest.approx(0.1), 0.9]


def test_effective_length(section):
    eff = section["effective_length"]
    assert eff["threshold"] == 0.8 and eff["metric"] == "value_acc" and eff["finetuned_arm"] == "kv"
    assert eff["finetuned"] == 640.0                       # 12 dicts: exactly 0.8 passes; 24 (0.4) fails
    assert eff["base"] == 370.0                            # 24 dicts' 0.9 comes after a failed 12: not counted
    assert eff["by_model"]["kv"]["length"] == 12 and not eff["by_model"]["kv"]["censored"]
    assert eff["training_length_tokens"] == 368.8          # the fine-tuned arm's data card, not another arm's
    assert retrieval_grid.effective_length_text(eff, "kv") == "640 tokens, 1.7x the training length"


def test_effective_length_edge_cases():
    assert retrieval_grid.effective_length([0.7, 0.9], 0.8) is None          # fails at the shortest
    assert retrieval_grid.effective_length([0.9, 0.85], 0.8) == 1            # passes everywhere
    assert retrieval_grid.effective_length([0.9, None, 0.9], 0.8) == 0       # unmeasured stops the run
    all_pass = retrieval_grid.retrieval_section({"base": [results(FT)]}, [], [], 0.3)["effective_length"]
    assert all_pass["by_model"]["base"]["censored"]
    assert retrieval_grid.effective_length_text(all_pass, "base").startswith(">= 1,170 tokens (the longest tested)")
    none = retrieval_grid.retrieval_section({"base": [results(FT)]}, [], [], 1.0)["effective_length"]
    assert none["base"] is None
    assert "below the threshold at the shortest tested length (370 tokens)" in \
        retrieval_grid.effective_length_text(none, "base")


def test_seeds_are_averaged_per_cell():
    half = [[v / 2 for v in row] for row in FT]
    grid = retrieval_grid.build_grid({"kv": [results(FT), results(half)]})
    assert grid["accuracy"]["kv"][0] == [0.75, 0.65, 0.35]   # 1.0 & 0.5, 0.9 & 0.4, 0.5 & 0.2 (4.5 and 2.5 of 10
    #                                                            correct round to even: 4 and 2)
    assert grid["n"]["kv"][0] == [2 * N] * 3 and grid["seeds"]["kv"] == 2


def test_no_grid_without_a_length_and_position_axis():
    rows = [{"bucket": "position=1", "axes": {"position": 1}, "over_context": False, "scores": {"value_acc": 1.0}}]
    block = aggregate(rows, ("value_acc",), ("position",))
    assert retrieval_grid.retrieval_section({"base": [block]}, [], []) == {"grid": None, "effective_length": None}
    assert retrieval_grid.retrieval_section(None, [], []) == {"grid": None, "effective_length": None}


def test_heatmap_panels_are_the_drawn_arrays(section):
    grid = section["grid"]
    fig = grid_plots.heatmap_figure(grid, "kv", 368.8)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 3                                 # before, after, difference
    diff = np.array(FT) - np.array(BASE)
    for im, expected in zip(images, (BASE, FT, diff)):
        assert np.allclose(np.asarray(im.get_array()), expected)
    lo, hi = images[2].get_clim()
    assert lo == -hi and hi == pytest.approx(np.abs(diff).max())   # diverging map centred on 0
    assert images[0].get_clim() == (0.0, 1.0)
    texts = [t.get_text() for t in fig.axes[2].texts]
    assert "+0.80" in texts and "-0.50" in texts           # each cell annotated with its value
    assert "n = 10 per cell" in fig._suptitle.get_text()
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][0] == "370 tok\n6 dicts"
    train_line = [ln for ln in fig.axes[0].lines if ln.get_linestyle() == "--"]
    # 368.8 tokens: just left of column 0 (370), on the line through columns 0 and 1 (270 tokens per column)
    assert train_line and train_line[0].get_xdata()[0] == pytest.approx(-1.2 / 270)
    grid_plots.pyplot().close(fig)


def test_heatmap_states_n_per_cell_when_cells_differ(section):
    grid = json.loads(json.dumps(section["grid"]))
    grid["n"]["kv"][1][1] = 7
    fig = grid_plots.heatmap_figure(grid, "kv")
    assert "0.70\nn=7" in [t.get_text() for t in fig.axes[1].texts]
    grid_plots.pyplot().close(fig)


def test_token_x_places_the_training_length_between_columns():
    assert grid_plots.token_x([400, 800, 1600], 600) == pytest.approx(0.5)
    assert grid_plots.token_x([400, 800, 1600], 1200) == pytest.approx(1.5)
    assert grid_plots.token_x([400, 800, 1600], 5000) == pytest.approx(2.45)   # clipped inside the axis
    assert grid_plots.token_x([400], 600) == pytest.approx(0.45)
    assert grid_plots.token_x([None, 800], 600) is None


def test_effective_length_figure(section):
    fig = grid_plots.effective_length_figure(section["grid"], section["effective_length"], ["base", "kv"])
    ax = fig.axes[0]
    stars = [ln for ln in ax.lines if ln.get_marker() == "*"]
    assert sorted((ln.get_xdata()[0], ln.get_ydata()[0]) for ln in stars) == [(370.0, 0.8), (640.0, 0.8)]
    assert any(ln.get_ydata()[0] == 0.8 and ln.get_linestyle() == ":" for ln in ax.lines)     # the threshold
    assert any(ln.get_xdata()[0] == 368.8 and ln.get_linestyle() == "--" for ln in ax.lines)  # training length
    assert "640 tokens, 1.7x the training length" in " ".join(t.get_text() for t in ax.get_legend().get_texts())
    grid_plots.pyplot().close(fig)


def test_one_length_reads_right():
    """One bucket: the points stay inside the axis (matplotlib alone drew them at its edges)."""
    one = {"base": [results([[0.1], [0.0], [0.2]], lengths=[8])], "kv": [results([[1.0], [0.9], [1.0]], lengths=[8])]}
    sec = retrieval_grid.retrieval_section(one, CARDS, ["kv"], 0.8)
    fig = grid_plots.effective_length_figure(sec["grid"], sec["effective_length"], ["base", "kv"])
    lo, hi = fig.axes[0].get_xlim()
    assert sec["grid"]["tokens"] == [464.0] and lo < 464.0 < hi and lo < 368.8 < hi
    assert sec["effective_length"]["finetuned"] == 464.0 and sec["effective_length"]["by_model"]["kv"]["censored"]
    grid_plots.pyplot().close(fig)


def test_one_bucket_by_axis_plot_keeps_the_points_mid_axis():
    bench = {"primary_metric": "value_acc", "axes": {"length": [{"value": 8, "cells": {
        "base": {"accuracy": 0.06, "ci95": [0.03, 0.12]}, "kv": {"accuracy": 0.99, "ci95": [0.95, 1.0]}}}]}}
    fig = accuracy_by_axis_figure("kv-retrieval", bench, "length", ["base", "kv"])
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    xs = [x for ln in ax.lines for x in ln.get_xdata()]
    assert (lo, hi) == (-0.5, 0.5)
    assert xs and all(abs(x) < 0.1 * (hi - lo) for x in xs)   # both markers near the middle, not at the edges
    grid_plots.pyplot().close(fig)


def test_report_draws_the_heatmap_and_effective_length(tmp_path):
    root = tmp_path / "run"
    stages = []
    for kind, label, info, files in (
            ("generate", "kv-s0", {"arm": "kv", "seed": 0},
             {"train.jsonl": [{"messages": [], "meta": {"n_tokens": t}} for t in (360, 377.6)],
              "train.jsonl.provenance.json": {"config": {"task": "simple_kv"}, "task_config": {"num_dict": 6}}}),
            ("eval", "base", {"role": "base"}, {"results.json": {"benchmarks": {"kv-retrieval": results(BASE)}}}),
            ("eval", "kv-s0", {"role": "fine-tuned", "arm": "kv", "seed": 0},
             {"results.json": {"benchmarks": {"kv-retrieval": results(FT)}}})):
        folder = f"{kind}/{label}-0000"
        for name, content in files.items():
            (write_jsonl if name.endswith(".jsonl") else write_json)(root / folder / name, content)
        write_json(root / folder / "done.json", {"seconds": 1.0})
        stages.append({"kind": kind, "label": label, "key": "0000", "info": info, "folder": folder})
    manifest = {"name": "g", "title": "grid", "seeds": [0], "arms": ["kv"], "base_model": "m", "stages": stages,
                "effective_length_threshold": 0.8}
    rep = write_report(root, manifest, root / "report")
    eff = rep["retrieval"]["effective_length"]
    assert (eff["base"], eff["finetuned"], eff["training_length_tokens"]) == (370.0, 640.0, 368.8)
    assert json.loads((root / "report" / "report.json").read_text())["retrieval"]["effective_length"] == eff
    for png in ("kv-retrieval-heatmap", "kv-retrieval-effective-length"):
        assert (root / "report" / "plots" / f"{png}.png").read_bytes()[:4] == b"\x89PNG"
    md = (root / "report" / "report.md").read_text()
    assert "kv 640 tokens, 1.7x the training length" in md and ">= 0.8" in md


def test_accuracy_lines_figure_places_numeric_buckets_at_their_values_with_their_intervals():
    """The by-axis figure `needlework compare` and the report share (needlework.plotting): numeric buckets sit at
    their value, and each error bar spans the point's interval."""
    from needlework.plotting import accuracy_lines_figure
    fig = accuracy_lines_figure([0, 50, 100], {"A": [(0, 0.5, 0.4, 0.7), (100, 0.9, 0.8, 1.0)]}, {"A": "#000000"},
                                numeric=True, xlabel="depth", ylabel="acc", title="t")
    ax = fig.axes[0]
    assert list(ax.lines[0].get_xdata()) == [0, 100] and list(ax.lines[0].get_ydata()) == [0.5, 0.9]
    segments = [seg for coll in ax.collections for seg in coll.get_segments()]
    assert sorted((float(s[0][1]), float(s[1][1])) for s in segments) == [(0.4, 0.7), (0.8, 1.0)]
    grid_plots.pyplot().close(fig)


def test_one_sample_at_every_depth_counts_once_in_the_length_interval():
    """The kv grid asks sample t at every depth of a length: 10 samples x 3 depths are not 30 independent items.
    With the item rows, the deciding length's Wilson interval is built on counts divided by the design effect."""
    acc = [[0.8] * 3] * 3                          # samples 0-7 right at every depth, 8-9 wrong at every depth
    rows = [{"item_id": f"simple_kv/num_dict={length}/gold_depth={depth}/{t}", "axes": {"length": length,
             "position": depth}, "cluster": f"simple_kv/num_dict={length}/{t}", "over_context": False,
             "scores": {"value_acc": float(t < 8)}} for depth in DEPTHS for length in LENGTHS for t in range(N)]
    plain = retrieval_grid.retrieval_section({"kv": [results(acc)]}, [], [], 0.8)["effective_length"]
    fair = retrieval_grid.retrieval_section({"kv": [results(acc)]}, [], [], 0.8,
                                            items={"kv": [rows]})["effective_length"]
    p, f = plain["by_model"]["kv"]["deciding"], fair["by_model"]["kv"]["deciding"]
    assert (p["correct"], p["n"]) == (f["correct"], f["n"]) == (24, 30)
    assert p["design_effect"] == 1.0 and f["design_effect"] == pytest.approx(29 / 9, abs=1e-3)  # (3m-1)/(m-1)
    assert f["ci95"][0] < p["ci95"][0] - 0.1          # the interval of 10 samples, not of 30 items
    assert "[95% Wilson with design effect 3.22: " in retrieval_grid.effective_length_sentence(fair)

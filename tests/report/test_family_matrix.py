"""The family matrix from hand-made per-item results: pairing by item, held-out marking, the paired interval,
and its table and heatmap in the report; the `family-matrix` benchmark's items and scoring."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from needlework.evals.aggregate import aggregate
from needlework.io import write_json, write_jsonl
from needlework.report.family_matrix import family_matrix

FAMS = ("simple_kv", "multi_subkey_kv")


def _rows(scores: dict[str, list[int]], over: set[str] = frozenset()) -> list[dict]:
    """samples.jsonl rows of the family-matrix benchmark: item i of family f scores scores[f][i]."""
    return [{"benchmark": "family-matrix", "item_id": f"{fam}/{i}", "bucket": f"family={fam}", "axes": {"family": fam},
             "over_context": f"{fam}/{i}" in over, "scores": {} if f"{fam}/{i}" in over else {"acc": float(s)}}
            for fam, ss in scores.items() for i, s in enumerate(ss)]


BASE = {"simple_kv": [0] * 8 + [1] * 2, "multi_subkey_kv": [1, 0, 0, 0, 1, 0, 0, 0, 0, 0]}
FT = {"simple_kv": [1] * 9 + [0], "multi_subkey_kv": [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]}


def test_cells_pair_items_and_mark_held_out_families():
    m = family_matrix(_rows(BASE), {"kv": [_rows(FT)]}, {"kv": ["simple_kv"]})
    assert m["families"] == list(FAMS) and m["arms"] == ["kv"]
    skv, mkv = m["cells"]["kv"]["simple_kv"], m["cells"]["kv"]["multi_subkey_kv"]
    # simple_kv: items 0-7 gained, 8 kept, 9 lost
    assert skv["table"] == {"a": 1, "b": 1, "c": 8, "d": 0} and skv["delta"] == pytest.approx(0.7)
    assert (skv["before"], skv["after"], skv["trained"]) == (0.2, 0.9, True)
    assert skv["ci95"][0] > 0 and skv["significant"]
    # multi_subkey_kv: one gained (item 1), one lost (item 4): no change, held out, interval spans 0
    assert mkv["table"] == {"a": 1, "b": 1, "c": 1, "d": 7} and mkv["delta"] == 0.0
    assert mkv["trained"] is False and mkv["ci95"][0] < 0 < mkv["ci95"][1] and not mkv["significant"]


def test_items_over_context_in_either_run_leave_the_pair_and_seeds_pool():
    over = {"simple_kv/0", "simple_kv/1"}
    m = family_matrix(_rows(BASE, over), {"kv": [_rows(FT), _rows(BASE)]}, {"kv": ["simple_kv"]})
    skv = m["cells"]["kv"]["simple_kv"]
    assert skv["n"] == 16 and skv["seeds"] == 2   # 8 pairs per seed
    assert skv["seed_deltas"] == [0.625, 0.0]     # seed 0: 6 gained, 1 lost of 8; seed 1 equals base
    assert skv["delta"] == pytest.approx(5 / 16)


def test_the_matrix_names_every_method_its_cells_used():
    """One seed, no clusters: every cell is exact McNemar. Two seeds pool one item twice (one cluster): those cells
    are Rao-Scott, and a matrix mixing both says so rather than naming McNemar alone."""
    from needlework.evals.paired import METHOD_MCNEMAR, METHOD_RAO_SCOTT
    assert family_matrix(_rows(BASE), {"kv": [_rows(FT)]}, {"kv": ["simple_kv"]})["method"] == METHOD_MCNEMAR
    mixed = family_matrix(_rows(BASE), {"one": [_rows(FT)], "two": [_rows(FT), _rows(BASE)]}, {})
    assert mixed["cells"]["two"]["simple_kv"]["method"] == METHOD_RAO_SCOTT
    assert mixed["method"] == "; ".join(sorted([METHOD_MCNEMAR, METHOD_RAO_SCOTT]))


def _write(root: Path, folder: str, files: dict) -> None:
    for name, content in files.items():
        p = root / folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        (write_jsonl if name.endswith(".jsonl") else write_json)(p, content)
    write_json(root / folder / "done.json", {"key": "0000", "seconds": 1.0, "outputs": {}})


def test_report_shows_the_matrix_as_table_and_heatmap(tmp_path):
    from needlework.report.build import write_report
    stages = []

    def ev(label, info, scores):
        rows = _rows(scores)
        res = {"benchmarks": {"family-matrix": {**aggregate(rows, ("acc",), ("family",)),
                                                "describe": {"data_source": "hand-made"}}}}
        folder = f"eval/{label}-0000"
        _write(tmp_path, folder, {"results.json": res, "samples.jsonl": rows})
        stages.append({"kind": "eval", "label": label, "key": "0000", "info": info, "folder": folder})

    ev("base", {"role": "base"}, BASE)
    gen = "generate/mix-s0-0000"
    rows = [{"messages": [], "meta": {"n_tokens": 10, "component": c}} for c in ("simple_kv", "simple_kv", "niah")]
    _write(tmp_path, gen, {"train.jsonl": rows, "train.jsonl.provenance.json": {
        "config": {"task": "mixture"}, "task_config": {}, "data_hash": "h", "mixture": [
            {"name": "simple_kv", "task": "simple_kv", "weight": 2.0, "share": 0.666667, "samples": 2},
            {"name": "niah", "task": "niah", "weight": 1.0, "share": 0.333333, "samples": 1}]}})
    stages.append({"kind": "generate", "label": "mix-s0", "key": "0000", "folder": gen,
                   "info": {"arm": "mix", "seed": 0, "task": "mixture", "tasks": ["niah", "simple_kv"]}})
    ev("mix-s0", {"role": "fine-tuned", "arm": "mix", "seed": 0}, FT)
    manifest = {"name": "t", "title": "t", "seeds": [0], "arms": ["mix"], "base_model": "m", "stages": stages}
    out = tmp_path / "report"
    out.mkdir()
    rep = write_report(tmp_path, manifest, out)
    cell = rep["family_matrix"]["cells"]["mix"]
    assert cell["simple_kv"]["trained"] and not cell["multi_subkey_kv"]["trained"]
    md = (out / "report.md").read_text()
    assert "family matrix" in md and "+0.700 [" in md and "held out" in md
    assert (out / "plots" / "family-matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert "data mixture" in md and "| mix | 0 | simple_kv | simple_kv | 2 | 0.667 | 2 | 20 |" in md
    assert json.loads((out / "report.json").read_text())["data"][0]["mixture"][1]["tokens"] == 10


def test_family_matrix_benchmark_builds_one_family_per_column_and_scores_acc():
    from needlework.config import ConfigError
    from needlework.evals.family_matrix import FamilyMatrixConfig, build, score
    s = FamilyMatrixConfig(families=list(FAMS), n=2, positions=[1, 3], num_dicts=[4])
    items = build(s, 0)
    assert [it.axes["family"] for it in items] == ["simple_kv"] * 4 + ["multi_subkey_kv"] * 4
    assert len({it.id for it in items}) == 8
    first = items[0]
    right = f"The value of key {first.gold['gold_key']} is {first.gold['gold_value']} and it is in Dictionary [1]."
    assert score(first, right)[1]["acc"] == 1.0 and score(first, "no idea")[1]["acc"] == 0.0
    for bad, msg in (({"families": []}, "at least one"), ({"families": ["simple_kv", "simple_kv"]}, "twice"),
                     ({"families": ["nope"]}, r"family_matrix \(nope\)"),
                     ({"params": {"niah": {}}}, r"family_matrix.params.niah")):
        with pytest.raises(ConfigError, match=msg):
            FamilyMatrixConfig(**bad).validate()

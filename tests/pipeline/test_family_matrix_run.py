"""`run` with a mixture as training data and the family-matrix benchmark: the tiny random model through every
stage; the report's family matrix pairs the base and fine-tuned answers from the eval stages' samples.jsonl,
marks the mixture's families trained, and the data card shows the mixture; the cpu-transfer preset validates."""
from __future__ import annotations

import json

from needlework.io import read_jsonl
from needlework.pipeline.run import run


def test_mixture_run_reports_a_family_matrix(mini, tmp_path):
    cfg = mini(**{
        "data.task": "mixture", "data.params": {"num_dict": 2},
        "data.mixture": [{"task": "simple_kv", "weight": 3, "name": "kv"},
                         {"task": "simple_kv", "weight": 1, "name": "kv-plain", "params": {"template": False}}],
        "eval.benchmarks": ["family-matrix"],
        "eval.family_matrix": {"families": ["simple_kv", "multi_subkey_kv"], "n": 2, "positions": [1, 2],
                          "num_dicts": [2], "max_new_tokens": 6},
        "report.head_maps": True, "report.head_maps_n": 2})
    root = run(cfg, log=lambda _: None)
    rep = json.loads(next((root / "report").glob("report-*/report.json")).read_text())
    matrix = rep["family_matrix"]
    assert matrix["arms"] == ["kv"] and matrix["families"] == ["simple_kv", "multi_subkey_kv"]
    assert matrix["trained"] == {"kv": ["simple_kv"]}
    cells = matrix["cells"]["kv"]
    assert cells["simple_kv"]["trained"] and not cells["multi_subkey_kv"]["trained"]
    # each cell is the paired difference of the two eval stages' per-item scores
    rows = {label: {r["item_id"]: r for r in read_jsonl(next((root / "eval").glob(f"{label}-*")) / "samples.jsonl")}
            for label in ("base", "kv-s0")}
    ids = [i for i, r in rows["base"].items() if r["axes"]["family"] == "multi_subkey_kv"]
    delta = sum(rows["kv-s0"][i]["scores"]["acc"] - rows["base"][i]["scores"]["acc"] for i in ids) / len(ids)
    assert cells["multi_subkey_kv"]["n"] == len(ids) == 4 and abs(cells["multi_subkey_kv"]["delta"] - delta) < 1e-9
    md = (root / "report.md").read_text()
    assert "family matrix" in md and "held out" in md and "data mixture" in md
    assert [c["name"] for c in rep["data"][0]["mixture"]] == ["kv", "kv-plain"]
    # the head-map stage scored base and fine-tuned on the training file's last rows, and the report shows it
    heads = json.loads(next((root / "heads").glob("kv-s0-*/heads.json")).read_text())
    train_rows = list(read_jsonl(next((root / "generate").glob("kv-s0-*/train.jsonl"))))
    assert heads["samples"] + len(heads.get("skipped", [])) <= 2 and "compare" in heads
    assert list(read_jsonl(next((root / "heads").glob("kv-s0-*/samples.jsonl")))) == train_rows[-2:]
    assert "retrieval heads" in md and "heads_change.png" in md
    # the verdict adds the matrix's reading: trained and held-out families, each with its paired interval
    beyond = rep["claims"][3]
    assert beyond.startswith("Beyond the paper") and "kv, trained families: simple_kv" in beyond
    assert "kv, held-out families: multi_subkey_kv" in beyond and "95% paired interval" in beyond


def test_cpu_transfer_preset_trains_on_a_mixture_and_holds_a_family_out():
    from needlework.pipeline.plan import trained_families
    from needlework.pipeline.presets import load_preset
    cfg = load_preset("cpu-transfer")
    data = cfg.data_for(cfg.arm, cfg.seeds[0])
    assert data.is_mixture and len(data.mixture) >= 2
    assert cfg.eval.benchmarks[0] == "family-matrix"
    # families are matched by task and format (word-json and uuid-json are both formatted_kv), as the report does
    held_out = set(cfg.eval.family_matrix.families) - set(trained_families(cfg, data))
    assert held_out, "the preset must evaluate at least one family it does not train on"
    assert held_out == {"uuid-json", "variable_tracking"}

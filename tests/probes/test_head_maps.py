"""`needlework heads`: head ranking, the before/after change, files written, report blocks, and the CLI on a
tiny model whose one head is planted to copy (tests/planted_heads.py)."""
from __future__ import annotations

import json

import pytest
from planted_heads import PLANTED, needle_rows, planted_model

from needlework.cli import main
from needlework.config import ConfigError
from needlework.probes.head_maps import changed_heads, score_change, short_name, top_heads
from needlework.report.build import head_map_blocks


def test_top_heads_rank_by_score_then_position():
    scores = [[0.1, 0.5], [0.5, 0.0]]
    assert top_heads(scores, 3) == [{"layer": 0, "head": 1, "score": 0.5}, {"layer": 1, "head": 0, "score": 0.5},
                                    {"layer": 0, "head": 0, "score": 0.1}]


def test_changed_heads_rank_by_absolute_change():
    before, after = [[0.2, 0.5], [0.0, 0.1]], [[0.2, 0.1], [0.7, 0.1]]
    assert score_change(before, after) == [[0.0, -0.4], [0.7, 0.0]]
    assert [(c["layer"], c["head"], c["change"]) for c in changed_heads(before, after, 2)] == [(1, 0, 0.7),
                                                                                               (0, 1, -0.4)]
    with pytest.raises(ConfigError, match="different layer x head shapes"):
        score_change(before, [[0.1, 0.2, 0.3]])


def test_short_name_keeps_the_informative_end_of_a_path():
    assert short_name("smollm2-135m-instruct") == "smollm2-135m-instruct"
    assert short_name("/runs/demo/train/kv-s0-abc/model") == "kv-s0-abc/model"


@pytest.fixture(scope="module")
def before_after(tmp_path_factory, smollm2_tokenizer_dir):
    """(before model dir, after model dir, data file): the same tiny model without and with the planted head."""
    from transformers import AutoTokenizer

    from needlework.io import write_jsonl
    root = tmp_path_factory.mktemp("heads")
    tok = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    dirs = []
    for name, plant in (("before", False), ("after", True)):
        planted_model(tok, plant=plant).save_pretrained(root / name)
        tok.save_pretrained(root / name)
        dirs.append(root / name)
    data = root / "needles.jsonl"
    write_jsonl(data, [{"prompt": r["prompt"], "completion": r["answer"], "meta": r["meta"]} for r in needle_rows(4)])
    return dirs[0], dirs[1], data


def test_heads_cli_before_after_singles_out_the_planted_head(before_after, tmp_path, capsys):
    before, after, data = before_after
    out = tmp_path / "heads"
    assert main(["heads", "--model", str(before), "--data", str(data), "--out", str(out), "--n", "3",
                 "--compare", str(after), "--top", "3"]) == 0
    res = json.loads((out / "heads.json").read_text())
    layer, head = PLANTED
    assert res["samples"] == 3 and res["compare"]["samples"] == 3 and res["n"] == 3
    assert res["compare"]["top"][0] == {"layer": layer, "head": head, "score": 1.0}
    assert res["scores"][layer][head] == 0.0
    assert res["changed"][0] == {"layer": layer, "head": head, "before": 0.0, "after": 1.0, "change": 1.0}
    assert len(res["top"]) == 3 and res["provenance"]["config"]["compare"] == str(after)
    for name in ("heads.png", "heads_compare.png", "heads_change.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert f"changed most" in printed and f"{layer}.{head} +1.000" in printed

    blocks = head_map_blocks(tmp_path, "heads")
    pngs = [p for kind, (p, _) in ((k, v) for k, v in blocks if k == "file-png")]
    assert sorted(pngs) == [f"heads/{n}" for n in ("heads.png", "heads_change.png", "heads_compare.png")]
    tables = [v for k, v in blocks if k == "table"]
    assert [t["title"].split(":")[0] for t in tables] == ["top heads", "top heads", "heads whose score changed most"]
    assert tables[-1]["rows"][0][:2] == [layer, head]


def test_head_maps_run_fp32_by_default_through_the_one_precision_setting(before_after, tmp_path, monkeypatch,
                                                                         capsys):
    """HeadMapsConfig's precision defaults to fp32 and is resolved by needlework.precision.resolve like every
    stage's (recorded in heads.json); an explicit bf16 loads the model in bf16 with training's warning."""
    import torch

    from needlework import precision
    from needlework.probes.head_maps import HeadMapsConfig, build_head_maps
    from needlework.probes.retrieval_heads import load_eager
    before, _, data = before_after
    assert (HeadMapsConfig().precision, HeadMapsConfig().device) == ("fp32", "auto")
    res = build_head_maps(HeadMapsConfig(model=str(before), data=str(data), out=str(tmp_path / "h"), n=1, device="cpu"))
    assert res["precision"] == precision.resolve("fp32", "cpu").as_dict()
    assert json.loads((tmp_path / "h" / "heads.json").read_text())["precision"]["bf16"] is False
    monkeypatch.setenv("NEEDLEWORK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2"})
    monkeypatch.setattr(precision, "calibrate", lambda **kw: 0.04)
    capsys.readouterr()
    model, _ = load_eager(str(before), precision.resolve("bf16", "cpu"))
    assert next(model.parameters()).dtype == torch.bfloat16 and "25.0x slower" in capsys.readouterr().err


def test_heads_cli_refuses_missing_data(capsys):
    assert main(["heads", "--model", "x"]) == 2
    assert "data: give a JSONL file" in capsys.readouterr().err

"""Token-level loss map (paper Fig. 4): per-token losses, format vs value split, HTML + PNG outputs."""
from __future__ import annotations

import json

import pytest

from needlework.probes.loss_map import LossMapConfig, build_loss_map, prompt_variants
from needlework.probes.loss_map_render import colour
from needlework.tasks.gold_spans import value_spans


def test_value_spans_mark_key_value_and_dictionary_digits():
    answer = "The value of key 5600 is 3428 and it is in Dictionary [3]."
    spans = value_spans(answer, {"gold_key": 5600, "gold_value": 3428, "gold_dict": 3})
    assert sorted(answer[s:e] for s, e in spans) == ["3", "3428", "5600"]
    # a number inside another is not a match: "3" must not be found inside "3428"
    assert all(not (answer[s - 1].isdigit() or answer[e].isdigit()) for s, e in spans)


def test_prompt_variants_strip_or_add_the_template():
    from needlework.tasks import generate_sample, get_task
    task = get_task("simple_kv")
    with_t = generate_sample(task, task.config_cls(num_dict=3, template=True), 0, 0)
    without = generate_sample(task, task.config_cls(num_dict=3, template=False), 0, 0)
    assert prompt_variants(with_t.prompt, with_t.meta) == {"with template": with_t.prompt,
                                                           "without template": without.prompt}
    assert prompt_variants(without.prompt, {**without.meta, "task": "simple_kv"})["with template"] == with_t.prompt


def test_colour_runs_green_to_red():
    g, r = colour(0.0, 10.0), colour(10.0, 10.0)
    assert int(g[3:5], 16) > int(g[1:3], 16)   # green channel dominates at zero loss
    assert int(r[1:3], 16) > int(r[3:5], 16)   # red channel dominates at the maximum


def test_build_loss_map_writes_html_png_and_summary(tiny_model_dir, kv_file, tmp_path):
    res = build_loss_map(LossMapConfig(model=str(tiny_model_dir), data=str(kv_file), out=str(tmp_path / "lm"), n=2))
    assert res["samples"] == 2
    for variant in ("with template", "without template"):
        s = res["summary"][variant]
        assert s["tokens"] > 0 and s["format_tokens_mean_loss"] > 0 and s["value_tokens_mean_loss"] > 0
    html = (tmp_path / "lm" / "loss_map.html").read_text()
    assert html.count("<span") >= res["summary"]["with template"]["tokens"] and "background" in html
    assert (tmp_path / "lm" / "loss_map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    detail = json.loads((tmp_path / "lm" / "loss_map.json").read_text())
    tokens = detail["tokens"][0]["variants"]["with template"]
    # the answer tokens decode back to the answer, and value tokens are exactly the digits of key/value/dict
    row = json.loads(kv_file.read_text().splitlines()[0])
    assert "".join(t["text"] for t in tokens).startswith(row["messages"][1]["content"])
    assert {t["text"].strip() for t in tokens if t["value"]} <= set("0123456789")


def test_loss_map_refuses_missing_data():
    from needlework.config import ConfigError
    with pytest.raises(ConfigError, match="data"):
        LossMapConfig(model="x", data="").validate()


def test_loss_map_resolves_the_one_precision_setting_and_warns_like_training(tiny_model_dir, kv_file, tmp_path,
                                                                             monkeypatch, capsys):
    """`precision` + `device` go through needlework.precision.resolve: explicit bf16 on a CPU without native
    bf16 is honoured with the same measured-slowdown warning as training; fp32 is fp32."""
    from needlework import precision
    monkeypatch.setenv("NEEDLEWORK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2"})
    monkeypatch.setattr(precision, "calibrate", lambda **kw: 0.04)
    common = {"model": str(tiny_model_dir), "data": str(kv_file), "n": 1, "device": "cpu"}
    res = build_loss_map(LossMapConfig(**common, out=str(tmp_path / "bf16"), precision="bf16"))
    assert res["precision"]["bf16"] is True and res["precision"]["device"] == "cpu"
    assert res["precision"]["reason"] == precision.resolve("bf16", "cpu").reason
    assert capsys.readouterr().err.count("25.0x slower") == 2   # the loss map's warning, then the reference's
    res = build_loss_map(LossMapConfig(**common, out=str(tmp_path / "fp32"), precision="fp32"))
    assert res["precision"]["bf16"] is False and "slower" not in capsys.readouterr().err

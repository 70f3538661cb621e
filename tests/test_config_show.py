"""`needlework config show [SECTION]` prints the settings tree from the dataclasses: every key, type, default and
help; a section narrows it; an unknown one is a one-line error naming the top-level sections."""
from __future__ import annotations

from needlework.cli import main
from needlework.evals.mdqa import MDQAConfig


def test_config_show_a_benchmark_section_lists_each_setting_with_type_default_and_help(capsys):
    assert main(["config", "show", "eval.mdqa"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "eval.mdqa: MDQAConfig"
    for name, f in MDQAConfig.__dataclass_fields__.items():   # every field, with its help text
        assert f"  eval.mdqa.{name}: {f.type} = " in out
        assert f.metadata["help"].split()[0] in out
    assert "  eval.mdqa.k: int = 20" in lines
    assert not any(line.startswith("  eval.kv_retrieval") or line.startswith("train") for line in lines)


def test_config_show_train_lora_and_one_setting(capsys):
    assert main(["config", "show", "train.lora"]) == 0
    out = capsys.readouterr().out
    assert [line.split(":")[0].strip() for line in out.splitlines() if line.lstrip().startswith("train.")] == [
        "train.lora", "train.lora.r", "train.lora.alpha", "train.lora.dropout", "train.lora.target_modules"]
    assert main(["config", "show", "train.mdqa_probe.every"]) == 0
    assert capsys.readouterr().out.startswith("train.mdqa_probe.every: int = 8\n")


def test_config_show_everything_covers_every_section_and_the_tasks(capsys):
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    for key in ("name: str", "data: GenerateConfig", "train: TrainConfig", "eval: EvalConfig", "eval.mdqa: MDQAConfig",
                "backend.hf.engine:", "report: ReportConfig", "estimate: EstimateConfig", "tasks.niah: NIAHConfig"):
        assert key in out, key
    assert "(no help)" not in out
    assert "[hf only]" in out and "[openai only]" in out


def test_config_show_an_unknown_section_is_one_line_naming_the_sections(capsys):
    assert main(["config", "show", "eval.nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "eval.nope" in err
    for section in ("data", "train", "eval", "backend", "report", "estimate", "tasks"):
        assert section in err

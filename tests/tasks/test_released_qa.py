"""MultidocQA (Yu 2024) and IN2 (An et al. 2024) baselines: readers for their formats on small fixtures with
the same schema (tests/tasks/fixtures, written for these tests), token parity, and the preset's skip rule."""
from pathlib import Path

import pytest

from needlework.config import ConfigError
from needlework.io import read_jsonl
from needlework.tasks.files.dataset import GenerateConfig, SampleMaker, generate_file
from needlework.tasks.baselines.released_qa import YU_SEPARATOR, load_pairs, pair_tokens

FIX = Path(__file__).parent / "fixtures"
MDQA, IN2 = str(FIX / "multidocqa_sample.jsonl"), str(FIX / "in2_sample.jsonl")


def test_multidocqa_reader_follows_yus_loader():
    pairs = load_pairs(MDQA, "multidocqa")
    assert len(pairs) == 3
    prompt, answer = pairs[0]
    # context + "/n" + first question (their literal separator), first answer; later turns dropped
    assert prompt.endswith(YU_SEPARATOR + "What colour is the door?") and prompt.startswith("Document 1:")
    assert answer.startswith("According to Document 1")
    assert pairs[2] == ("Fixture context.\nWhich document mentions rain?", "None of the documents mentions rain.")


def test_in2_reader_takes_chat_rows_only(tmp_path):
    assert len(load_pairs(IN2, "in2")) == 5
    bad = tmp_path / "in2.jsonl"
    bad.write_text('{"context": "c", "questions": ["q"], "answers": ["a"]}\n')
    with pytest.raises(ConfigError, match=r"in2.jsonl:1: not a in2 record"):
        load_pairs(str(bad), "in2")


def test_token_parity_cuts_the_file_to_the_budget(tmp_path):
    per = [pair_tokens(p, a, None) for p, a in load_pairs(IN2, "in2")]
    budget = per[0] + per[1] + per[2] + 1          # fixture rows are near-equal: three fit, not four
    cfg = GenerateConfig(task="released_qa", n=350, out=str(tmp_path / "in2.jsonl"),
                         params={"format": "in2", "path": IN2, "total_tokens": budget})
    assert SampleMaker(cfg).n == 3                    # min(n, what fits): parity, not n, decides
    out = generate_file(cfg, progress=False)
    rows = list(read_jsonl(out))
    assert len(rows) == 3 and sum(pair_tokens(r["messages"][0]["content"], r["messages"][1]["content"], None)
                                  for r in rows) <= budget
    assert {r["meta"]["source"] for r in rows} == {"in2"}
    assert len({r["meta"]["record"] for r in rows}) == 3
    # shards of the cut file still concatenate to it
    parts = b""
    for k in range(2):
        p = tmp_path / f"p{k}.jsonl"
        generate_file(GenerateConfig(**{**cfg.__dict__, "out": str(p)}), shard=f"{k}/2", progress=False)
        parts += p.read_bytes()
    assert parts == out.read_bytes()


def test_missing_file_is_named():
    with pytest.raises(ConfigError, match="path: give the multidocqa file"):
        GenerateConfig(task="released_qa", params={"format": "multidocqa"}).validate()


def test_mistral_preset_runs_all_four_baselines_when_files_are_given():
    from needlework.pipeline import load_preset
    m = load_preset("mistral-7b")
    assert set(m.skipped_arms()) == {"multidocqa", "in2"}
    assert {"niah", "mdqa-train"} <= set(m.arm_names()) and "multidocqa" not in m.arm_names()
    assert "no in2 file given" in m.skipped_arms()["in2"]
    given = load_preset("mistral-7b", overrides=[f"arms.multidocqa.params.path={MDQA}",
                                                 f"arms.in2.params.path={IN2}"])
    assert not given.skipped_arms()
    assert {"niah", "mdqa-train", "multidocqa", "in2"} <= set(given.arm_names())
    assert given.data_for("in2", 0).params["total_tokens"] == 350 * 4096


def test_validate_checks_rows_against_their_source_file(tmp_path):
    from needlework.tasks.base import Invalid
    from needlework.tasks.files.file_check import check_row
    from needlework.tasks.files.formats import to_row
    gen = SampleMaker(GenerateConfig(task="released_qa", n=2, params={"format": "multidocqa", "path": MDQA}))
    row = to_row(gen.sample(1), "prompt_completion")
    assert check_row(row) == "released_qa"
    with pytest.raises(Invalid, match="not record"):
        check_row(dict(row, completion=row["completion"] + " (edited)"))

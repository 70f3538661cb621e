"""The command line: every flag goes through one override path, and every user error ends in one
`needlework: error:` line with a non-zero exit, never a traceback."""
from __future__ import annotations

import json

from needlework.cli import build_parser, flag_overrides, main
from needlework.io import read_jsonl


def _user_error(capsys, argv: list[str], needle: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("needlework: error: "), err
    assert needle in lines[0]


def test_train_missing_data_file_is_one_error_line(tmp_path, capsys, tiny_model_dir):
    _user_error(capsys, ["train", "--model", str(tiny_model_dir), "--data", str(tmp_path / "missing.jsonl"),
                         "--out", str(tmp_path / "out"), "--max-steps", "1"], "missing.jsonl")


def test_train_row_without_assistant_turn_is_one_error_line(tmp_path, capsys, tiny_model_dir):
    data = tmp_path / "no_answer.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    _user_error(capsys, ["train", "--model", str(tiny_model_dir), "--data", str(data),
                         "--out", str(tmp_path / "out"), "--max-steps", "1"], "no_answer.jsonl:1")


def test_bad_setting_is_one_error_line(capsys):
    _user_error(capsys, ["generate", "--task", "no_such_task", "--n", "1"], "no_such_task")


def test_system_text_with_a_colon_stays_a_string(tmp_path):
    out = tmp_path / "d.jsonl"
    assert main(["generate", "--n", "1", "--out", str(out), "-q", "--system", "Note: be brief",
                 "params.num_dict=3"]) == 0
    row = next(read_jsonl(out))
    assert row["messages"][0] == {"role": "system", "content": "Note: be brief"}


def test_every_command_builds_overrides_through_one_function():
    parser = build_parser()
    args = parser.parse_args(["eval", "--model", "m: x", "--benchmarks", "mdqa, kv-retrieval", "--limit", "2",
                              "batch_size=3"])
    assert flag_overrides(args, {"model": "model", "benchmarks": "benchmarks", "limit": "limit",
                                 "seed": "seed"}) == [
        "batch_size=3", 'model="m: x"', 'benchmarks=["mdqa", "kv-retrieval"]', "limit=2"]
    args = parser.parse_args(["train", "--precision", "fp32", "--overwrite"])
    assert flag_overrides(args, {"precision": "precision", "overwrite": "overwrite", "resume": "resume"}) == [
        'precision="fp32"', "overwrite=true"]
    args = parser.parse_args(["train", "--bf16"])   # the accelerate examples' shorthand: the same one setting
    assert flag_overrides(args, {"precision": "precision"}) == ['precision="bf16"']


# Small settings per task for `generate`; released_qa reads a given file (the bundled test fixture).
SMALL_PARAMS = {"simple_kv": ["params.num_dict=3"], "multi_subkey_kv": ["params.num_dict=3"],
                "formatted_kv": ["params.num_dict=3", "params.render=json", "params.n_values=2"],
                "variable_tracking": ["params.num_lines=5", "params.hops=2"],
                "niah": ["params.context_chars=400"], "mdqa_train": ["params.num_docs=3"],
                "released_qa": ["params.format=multidocqa",
                                "params.path=tests/tasks/fixtures/multidocqa_sample.jsonl"]}


def test_tasks_lists_every_registered_task_then_generate_and_validate_each(tmp_path, capsys):
    from needlework.tasks import all_tasks
    assert main(["tasks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [ln.split()[0] for ln in lines]
    assert sorted(names) == sorted(all_tasks()) == sorted(SMALL_PARAMS)
    assert all(len(ln.split(None, 1)[1]) > 20 for ln in lines)   # a description follows each name
    for name in names:
        out = tmp_path / f"{name}.jsonl"
        assert main(["generate", "--task", name, "--n", "2", "--out", str(out), "-q", *SMALL_PARAMS[name]]) == 0
        assert main(["validate", str(out)]) == 0, name
        assert f"OK, 2 rows (2 {name})" in capsys.readouterr().out


def test_files_and_models_that_are_not_what_a_command_needs_are_one_error_line(tmp_path, capsys):
    """A binary file, a folder given as data, a file given as an output folder, a model that is nowhere: one
    `needlework: error:` line naming it, never a traceback (issue 21, item 9)."""
    from needlework.cli import main
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b"\xff\xfe\x00bad")
    one = tmp_path / "one.jsonl"
    one.write_text('{"a": 1}\n')
    (tmp_path / "adir").mkdir()
    cases = [(["show", str(binary)], "is not UTF-8 text"), (["show", str(one), "5"], "has no sample 5"),
             (["train", "--data", str(tmp_path / "adir"), "--out", str(tmp_path / "t")], "is a folder, not a JSONL"),
             (["eval", "--model", "m", "--benchmarks", "kv-retrieval", "--out", str(one)], "Not a directory"),
             (["loss-map", "--model", "no-such-model-anywhere", "--data", str(one)], "cannot be loaded here")]
    for args, words in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, (args, err)
        assert err.strip().splitlines()[-1].startswith("needlework: error:"), (args, err)


def test_python_m_runs_the_command_and_help_lists_every_command_in_its_order():
    """`python -m needlework.cli` (the form accelerate launch and torchrun use) reaches the same parser, and the
    commands, registered from one module per family, are listed in the order users have always seen."""
    import re
    import subprocess
    import sys
    from pathlib import Path
    r = subprocess.run([sys.executable, "-m", "needlework.cli", "--help"], cwd=Path(__file__).resolve().parents[1],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert re.search(r"\{([^}]*)\}", r.stdout).group(1).split(",") == [
        "generate", "tasks", "show", "validate", "eval", "compare", "export", "import", "data", "train", "models",
        "loss-map", "heads", "run", "sweep", "config"]


def test_what_a_rerun_keeps_after_ctrl_c_is_said_for_eval_train_and_run():
    """The interrupt message is looked up by the command function's name, which must survive moving it."""
    from needlework.cli import _AFTER_INTERRUPT
    parser = build_parser()
    names = {parser.parse_args(argv).func.__name__ for argv in (["eval"], ["train"], ["run"])}
    assert names == set(_AFTER_INTERRUPT)

"""Issue 21, items 9 and 10: the faults a hostile but realistic user met, each one `needlework: error:` line
or the behaviour a user expects — overrides anywhere on the line, Ctrl-C messages that say what a re-run
does, files that honour the umask, a damaged model, peft settings, absurd sizes, loss maps without gold."""
from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from needlework.cli import main
from needlework.io import read_jsonl, write_json


def _one_error_line(capsys, argv: list[str], words: str) -> None:
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("needlework")]
    assert lines and lines[-1].startswith("needlework: error:") and words in lines[-1], err


def test_overrides_are_accepted_after_flags_too(tmp_path):
    out = tmp_path / "d.jsonl"
    assert main(["generate", "--n", "1", "params.num_dict=3", "--out", str(out), "-q", "params.dict_len=[2,2]"]) == 0
    row = next(read_jsonl(out))
    dicts = re.findall(r"Dictionary \[\d+\] \{([^}]*)\}", row["messages"][-2]["content"])
    assert len(dicts) == 3 and sum(d.count(":") == 2 for d in dicts) >= 2   # both overrides took effect


def test_a_stray_word_is_still_refused(tmp_path, capsys):
    _one_error_line(capsys, ["generate", "--n", "1", "--out", str(tmp_path / "d.jsonl"), "oops"], "'oops'")


@pytest.mark.parametrize("command, target, says", [
    ("generate", "needlework.tasks.files.dataset.generate_file", "nothing was written"),
    ("eval", "needlework.evals.runner.run_eval", "the same command resumes"),
    ("train", "needlework.train.run_training", "add --resume"),
])
def test_ctrl_c_says_what_a_rerun_does(tmp_path, capsys, monkeypatch, command, target, says):
    bars = []

    def interrupted(*a, **k):
        from tqdm import tqdm
        bars.append(tqdm(total=3, desc="working"))   # a bar cut short: the message must still start its own line
        bars[-1].update(1)
        raise KeyboardInterrupt
    module, name = target.rsplit(".", 1)
    monkeypatch.setattr(module + "." + name, interrupted)
    argv = {"generate": ["generate", "--n", "1", "--out", str(tmp_path / "d.jsonl")],
            "eval": ["eval", "--model", "m", "--benchmarks", "kv-retrieval", "--out", str(tmp_path / "e")],
            "train": ["train", "--data", str(tmp_path / "d.jsonl"), "--out", str(tmp_path / "t")]}[command]
    if command == "train":
        main(["generate", "--n", "2", "--out", str(tmp_path / "d.jsonl"), "-q"])
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert any(ln.startswith("needlework: interrupted;") for ln in err.replace("\r", "\n").splitlines()), err
    assert err.rstrip().splitlines()[-1].startswith("needlework: interrupted;"), err


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == mode


def test_compare_given_a_file_that_is_not_results(tmp_path, capsys):
    rows = tmp_path / "samples.jsonl"
    rows.write_text('{"a": 1}\n{"b": 2}\n')
    _one_error_line(capsys, ["compare", str(rows), str(rows)], "is not a needlework results.json")


def test_compare_star_follows_the_rule_its_header_states():
    from needlework.evals.compare import _mark
    assert _mark({"significant": True, "p": 0.01}) == " *"
    assert _mark({"significant": True, "p": 0.062}) == " ?"   # interval excludes 0, McNemar does not: borderline
    assert _mark({"significant": False, "p": 0.3}) == ""
    assert _mark({"significant": True, "p": None}) == " *"


def test_a_model_whose_weights_are_cut_short(tmp_path, capsys, tiny_model_dir):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    w = broken / "model.safetensors"
    with open(w, "r+b") as f:
        f.truncate(w.stat().st_size // 2)
    data = tmp_path / "d.jsonl"
    main(["generate", "--n", "2", "--out", str(data), "-q", "params.num_dict=2"])
    capsys.readouterr()
    for argv, exit_words in [
        (["loss-map", "--model", str(broken), "--data", str(data), "--out", str(tmp_path / "lm")], "cannot be read"),
        (["heads", "--model", str(broken), "--data", str(data), "--out", str(tmp_path / "h")], "cannot be read"),
        (["train", "--model", str(broken), "--data", str(data), "--out", str(tmp_path / "t"), "--max-steps", "1"],
         "cannot be read"),
    ]:
        _one_error_line(capsys, argv, exit_words)
    assert main(["eval", "--model", str(broken), "--benchmarks", "kv-retrieval", "--limit", "1",
                 "--out", str(tmp_path / "e")]) == 3
    err = capsys.readouterr().err
    assert "cannot be read" in err.strip().splitlines()[-1] and "Traceback" not in err


@pytest.mark.parametrize("setting, words", [("lora.r=0", "lora.r must be >= 1"),
                                            ("lora.dropout=1.5", "lora.dropout"),
                                            ("lora.target_modules=[]", "empty list")])
def test_lora_settings_refused_before_loading_anything(tmp_path, capsys, setting, words):
    data = tmp_path / "d.jsonl"
    main(["generate", "--n", "2", "--out", str(data), "-q"])
    capsys.readouterr()
    _one_error_line(capsys, ["train", "--model", "no-such-model", "--params", "lora", "--data", str(data),
                             "--out", str(tmp_path / "t"), setting], words)


def test_unknown_lora_targets_named_with_the_layers_the_model_has(tmp_path, capsys, tiny_model_dir):
    data = tmp_path / "d.jsonl"
    main(["generate", "--n", "2", "--out", str(data), "-q", "params.num_dict=2"])
    capsys.readouterr()
    _one_error_line(capsys, ["train", "--model", str(tiny_model_dir), "--params", "lora", "--data", str(data),
                             "--out", str(tmp_path / "t"), "lora.target_modules=[qproj]"], "q_proj")


@pytest.mark.parametrize("setting, words", [("params.num_dict=100000000", "beyond any model's context"),
                                            ("params.target_tokens=100000000000", "beyond any model's context")])
def test_absurd_sizes_refused_up_front(tmp_path, capsys, setting, words):
    _one_error_line(capsys, ["generate", "--n", "1", "--out", str(tmp_path / "d.jsonl"), setting,
                             "params.digits=[15,15]"], words)


def test_loss_map_needs_rows_that_name_their_gold(tmp_path, capsys, tiny_model_dir):
    data = tmp_path / "plain.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "What is 2+2?"},
                                             {"role": "assistant", "content": "4"}]}) + "\n")
    _one_error_line(capsys, ["loss-map", "--model", str(tiny_model_dir), "--data", str(data),
                             "--out", str(tmp_path / "lm")], "names its gold value")


def test_config_files_that_are_not_yaml_text(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_bytes(b"n: 2\ntask: caf\xe9\n")
    _one_error_line(capsys, ["generate", "--config", str(bad)], "is not UTF-8 text")
    bad.write_text("n: 2\nseed: 1\nn: 3\n")
    _one_error_line(capsys, ["generate", "--config", str(bad)], "the key 'n' is given twice (line 3")
    _one_error_line(capsys, ["generate", "--config", str(tmp_path)], "is a folder")


def test_generate_refuses_outputs_it_cannot_write_before_writing(tmp_path, capsys):
    (tmp_path / "d.jsonl").mkdir()
    (tmp_path / "f").write_text("x")
    _one_error_line(capsys, ["generate", "--n", "2", "--out", str(tmp_path / "d.jsonl")], "is a folder")
    _one_error_line(capsys, ["generate", "--n", "2", "--out", str(tmp_path / "f" / "g.jsonl")], "is a file")
    _one_error_line(capsys, ["generate", "--n", "1000000000000", "--out", str(tmp_path / "big.jsonl")], "GB free")
    assert not list(tmp_path.glob(".big.jsonl*")) and not (tmp_path / "big.jsonl").exists()


def test_an_override_after_a_flag_that_takes_several_values(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr("needlework.train.run_training", lambda cfg: seen.setdefault("cfg", cfg) and tmp_path)
    data = tmp_path / "d.jsonl"
    main(["generate", "--n", "2", "--out", str(data), "-q"])
    assert main(["train", "--data", str(data), "lr=3e-4", "--out", str(tmp_path / "t")]) == 0
    assert seen["cfg"].lr == 3e-4 and [str(p) for p in seen["cfg"].data] == [str(data)]

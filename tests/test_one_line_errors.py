"""Every error a user can cause ends in one `needlework: error:` line naming the file or setting and what to do
(issue 32): a read-only location, a full disk inside a weights save, a folder without tokenizer files or with an
unreadable config.json, a Parquet file cut short or misnamed, `meta` given as a string, a checkpoint whose weights
are cut short; `~` in an output path is the home folder."""
from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest

from needlework.cli import main
from needlework.models import ModelNotAvailable, load_causal_lm, load_tokenizer


def one_error(capsys) -> str:
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(err) == 1 and err[0].startswith("needlework: error:"), err
    return err[0]


def failing_generate(monkeypatch, exc: Exception) -> None:
    def cmd(args):
        raise exc
    monkeypatch.setattr("needlework.cli.data_commands.cmd_generate", cmd)


def test_a_read_only_location_is_one_line(monkeypatch, capsys):
    failing_generate(monkeypatch, OSError(errno.EROFS, "Read-only file system", "/mnt/ro/g.jsonl"))
    assert main(["generate", "--n", "1"]) == 2
    assert "/mnt/ro/g.jsonl: Read-only file system (choose a writable output location)" in one_error(capsys)


def test_a_full_disk_inside_a_safetensors_save_is_one_line(monkeypatch, capsys):
    SafetensorError = type("SafetensorError", (Exception,), {})
    failing_generate(monkeypatch, SafetensorError("Error while serializing: IoError(Os { code: 28, kind: "
                                                  "StorageFull, message: \"No space left on device\" })"))
    assert main(["generate", "--n", "1"]) == 2
    assert "the disk is full (while saving weights)" in one_error(capsys)


def test_a_backend_error_is_still_one_line_exit_3(monkeypatch, capsys):
    """The disk-full handler catches Exception: it must come after BackendError's, or this became a traceback."""
    from needlework.backends import BackendError
    failing_generate(monkeypatch, BackendError("kv-retrieval: cannot load model 'm': config.json does not match"))
    assert main(["generate", "--n", "1"]) == 3
    assert "cannot load model 'm'" in one_error(capsys)


def test_another_library_error_keeps_its_traceback(monkeypatch):
    failing_generate(monkeypatch, KeyError("a bug"))
    with pytest.raises(KeyError):
        main(["generate", "--n", "1"])


def test_a_folder_without_tokenizer_files_says_so(tmp_path, tiny_model_dir):
    m = tmp_path / "m"
    shutil.copytree(tiny_model_dir, m)
    for f in m.glob("*token*"):
        f.unlink()
    (m / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(ModelNotAvailable, match="has no tokenizer files .*copy them from the model"):
        load_tokenizer(str(m))


def test_an_unreadable_config_json_says_so(tmp_path, tiny_model_dir):
    m = tmp_path / "m"
    shutil.copytree(tiny_model_dir, m)
    (m / "config.json").write_text('{"model_type": "llama", ')
    with pytest.raises(ModelNotAvailable, match=r"config\.json is not valid JSON"):
        load_causal_lm(str(m))


@pytest.mark.parametrize("content", [b"PAR1\x00\x01", b'{"messages": []}\n'])
def test_a_parquet_file_cut_short_or_misnamed_is_invalid(tmp_path, content, capsys):
    p = tmp_path / "d.parquet"
    p.write_bytes(content)
    assert main(["validate", str(p)]) == 1
    out = capsys.readouterr()
    assert "is not a readable Parquet file" in out.out and "Traceback" not in out.err


def test_meta_given_as_a_string_is_a_row_error():
    from needlework.tasks.files.formats import RowError, parse_row
    with pytest.raises(RowError, match="meta must be an object"):
        parse_row({"prompt": "k?", "completion": "v", "meta": "v"})


def test_a_checkpoint_with_weights_cut_short_is_set_aside_by_name(tmp_path, tiny_model_dir):
    from needlework.train.run import _last_checkpoint, whole_safetensors
    ck = tmp_path / "checkpoints"
    for step in (1, 2):
        d = ck / f"checkpoint-{step}"
        d.mkdir(parents=True)
        shutil.copy(tiny_model_dir / "model.safetensors", d / "model.safetensors")
        (d / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    w = ck / "checkpoint-2" / "model.safetensors"
    assert whole_safetensors(w)
    with open(w, "r+b") as f:
        f.truncate(w.stat().st_size - 100)
    assert not whole_safetensors(w)
    said = []
    assert _last_checkpoint(ck, log=said.append) == str(ck / "checkpoint-1")
    assert said == ["needlework train: checkpoint-2 was not saved completely (model.safetensors is cut short); moved "
                    "aside to checkpoint-2.incomplete"]


def test_tilde_in_an_output_path_is_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "--n", "1", "--out", "~/g.jsonl", "-q", "params.num_dict=2"]) == 0
    assert (tmp_path / "home" / "g.jsonl").exists() and not (tmp_path / "~").exists()
    from needlework.pipeline import load_preset
    from needlework.pipeline.run import run_root
    assert run_root(load_preset("cpu-demo", ["root=~/runs"])) == tmp_path / "home" / "runs" / "cpu-demo"

"""Files: determinism, sharding, atomic writes, every shape, Parquet, validate/show, and the CLI."""
import json
import subprocess
import sys

import pytest

from needlework.cli import main
from needlework.tasks.files.dataset import GenerateConfig, SampleMaker, generate_file
from needlework.tasks.files.file_check import show, validate_file

SMALL = {"num_dict": 8}


def _gen(tmp_path, name, **kw):
    cfg = GenerateConfig(out=str(tmp_path / name), **{"n": 12, "params": SMALL, **kw})
    return generate_file(cfg, progress=False, shard=kw.pop("shard", None) if "shard" in kw else None)


def test_same_config_same_bytes(tmp_path):
    a = generate_file(GenerateConfig(n=12, params=SMALL, out=str(tmp_path / "a.jsonl")), progress=False)
    b = generate_file(GenerateConfig(n=12, params=SMALL, out=str(tmp_path / "b.jsonl")), progress=False)
    c = generate_file(GenerateConfig(n=12, seed=1, params=SMALL, out=str(tmp_path / "c.jsonl")), progress=False)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


def test_shards_concatenate_to_the_serial_file(tmp_path):
    serial = generate_file(GenerateConfig(n=13, params=SMALL, out=str(tmp_path / "all.jsonl")), progress=False)
    parts = []
    for k in range(3):   # separate processes, as a user would run them
        out = tmp_path / f"part{k}.jsonl"
        subprocess.run([sys.executable, "-m", "needlework.cli", "generate", "--n", "13", "--out", str(out),
                        "--shard", f"{k}/3", "-q", "params.num_dict=8"], check=True)
        parts.append(out.read_bytes())
    assert b"".join(parts) == serial.read_bytes()


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    from needlework.tasks.files import dataset
    real = dataset.SampleMaker.rows

    def failing(self, indices):
        for j, row in enumerate(real(self, indices)):
            if j == 5:
                raise KeyboardInterrupt
            yield row
    monkeypatch.setattr(dataset.SampleMaker, "rows", failing)
    with pytest.raises(KeyboardInterrupt):
        generate_file(GenerateConfig(n=12, params=SMALL, out=str(tmp_path / "x.jsonl")), progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["messages", "prompt_completion", "openai"])
def test_every_shape_validates_and_carries_metadata(tmp_path, fmt):
    out = generate_file(GenerateConfig(n=5, format=fmt, params=SMALL, out=str(tmp_path / "d.jsonl")), progress=False)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    meta = rows[2]["meta"]
    assert {"task", "config_hash", "seed", "index", "gold_key", "gold_value", "gold_dict", "depth", "n_tokens"} <= set(meta)
    assert meta["index"] == 2 and meta["task"] == "simple_kv"
    if fmt == "openai":
        assert rows[0]["messages"][0] == {"role": "system",
                                          "content": "Write a response that appropriately completes the request."}
    assert validate_file(out).ok


def test_parquet_round_trip(tmp_path):
    out = generate_file(GenerateConfig(n=5, params=SMALL, out=str(tmp_path / "d.parquet")), progress=False)
    import datasets
    ds = datasets.load_dataset("parquet", data_files=str(out), split="train")
    assert len(ds) == 5 and ds[0]["messages"][1]["role"] == "assistant"
    assert validate_file(out).ok


def test_validate_reports_the_first_bad_line(tmp_path):
    out = generate_file(GenerateConfig(n=6, params=SMALL, out=str(tmp_path / "d.jsonl")), progress=False)
    lines = out.read_text().splitlines()
    row = json.loads(lines[3])
    gold_value = str(row["meta"]["gold_value"])
    # make a distractor value equal the gold value: an invariant another tool might break
    user = row["messages"][0]["content"]
    first_line = user.split("\n")[2]
    target = first_line if f"[{row['meta']['gold_dict']}]" not in first_line else user.split("\n")[3]
    broken_line = target[: target.rindex(": ") + 2] + gold_value + "}"
    row["messages"][0]["content"] = user.replace(target, broken_line)
    lines[3] = json.dumps(row)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    report = validate_file(bad)
    assert not report.ok and report.error_line == 4 and "gold value" in report.error
    bad.write_text(lines[0] + "\n{not json\n")
    report = validate_file(bad)
    assert report.error_line == 2 and "JSON" in report.error
    # a row written by another tool without our metadata is still checked from the text
    plain = tmp_path / "plain.jsonl"
    r = json.loads(lines[0])
    plain.write_text(json.dumps({"prompt": r["messages"][0]["content"], "completion": r["messages"][1]["content"]}) + "\n")
    assert validate_file(plain).ok
    plain.write_text(json.dumps({"prompt": r["messages"][0]["content"], "completion": "The value is 3."}) + "\n")
    assert "answer" in validate_file(plain).error


def test_validate_checks_token_counts(tmp_path, smollm2_tokenizer_dir):
    out = generate_file(GenerateConfig(n=3, params=SMALL, tokenizer=str(smollm2_tokenizer_dir),
                                       out=str(tmp_path / "d.jsonl")), progress=False)
    assert validate_file(out, tokenizer=str(smollm2_tokenizer_dir)).ok
    row = json.loads(out.read_text().splitlines()[0])
    row["meta"]["n_tokens"] += 1
    out.write_text(json.dumps(row) + "\n")
    assert "n_tokens" in validate_file(out, tokenizer=str(smollm2_tokenizer_dir)).error


def test_show_marks_the_gold(tmp_path):
    out = generate_file(GenerateConfig(n=2, params={"num_dict": 40}, out=str(tmp_path / "d.jsonl")), progress=False)
    text = show(out, 1)
    row = json.loads(out.read_text().splitlines()[1])
    gold = row["meta"]["gold_dict"]
    assert f">> Dictionary [{gold}] " in text and "..." in text and row["messages"][1]["content"] in text


def test_cli_generate_show_validate(tmp_path, capsys):
    out = tmp_path / "d.jsonl"
    assert main(["generate", "--task", "multi_subkey_kv", "--n", "3", "--out", str(out), "-q", "params.num_dict=4"]) == 0
    assert main(["validate", str(out)]) == 0
    assert "OK, 3 rows" in capsys.readouterr().out
    assert main(["show", str(out), "2", "--no-color"]) == 0
    assert "[assistant]" in capsys.readouterr().out


@pytest.mark.parametrize("override,word", [
    ("params.dict_len=[5, 3]", "dict_len"),
    ("params.n_common=3", "n_common"),
    ("params.p_share=2", "p_share"),
    ("params.no_such_key=1", "no_such_key"),
    ("task=nope", "unknown task"),
    ("n=0", "n must be"),
])
def test_cli_refuses_bad_settings_before_writing(tmp_path, capsys, override, word):
    out = tmp_path / "d.jsonl"
    task = "multi_subkey_kv" if "common" in override or "share" in override else "simple_kv"
    args = ["generate", "--out", str(out), "-q", override] + ([] if override.startswith("n=") else ["--n", "3"])
    if not override.startswith("task="):
        args[1:1] = ["--task", task]
    assert main(args) == 2
    assert word in capsys.readouterr().err
    assert not out.exists()


def test_key_space_too_small_is_refused(capsys, tmp_path):
    assert main(["generate", "--out", str(tmp_path / "d.jsonl"), "params.digits=[1, 1]", "params.dict_len=[4, 4]"]) == 2
    assert "digits" in capsys.readouterr().err


def test_generator_has_no_torch_in_its_import_path():
    code = ("import sys; from needlework.tasks.files.dataset import GenerateConfig, generate_file; "
            "import needlework.cli; needlework.cli.main(['tasks']); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_self_check_falls_back_to_full_tokenisation():
    """A tokenizer whose counts are not additive over pieces is detected and counted the slow, exact way."""
    from needlework.tasks.tokenization.tokens import LoadedTokenizer, TokenCounter
    # a toy tokenizer that merges every "q b" into one token: boundaries before spaces are not safe for it
    tok = LoadedTokenizer("toy", lambda t: list(t.replace("q b", "X")), 0, None)
    counter = TokenCounter(tok)
    assert counter.self_check(["q b c", "x q b"]) and counter.mode == "full"
    gen = SampleMaker(GenerateConfig(n=1, params=SMALL))
    assert gen.counter is None and gen.sample(0).meta["n_tokens"] is None

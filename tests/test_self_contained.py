"""Nothing at run time reads a folder outside the package: data comes from $NEEDLEWORK_DATA or the package's
own copy (needlework/resources), presets from needlework/presets. A clone from the project's home has no
../shared, and an installed wheel has no checkout at all."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import needlework
from needlework import real_data as data
from needlework.pipeline.presets import CONFIG_DIR, preset_names

PACKAGE = Path(needlework.__file__).resolve().parent

# Runs in a subprocess on a copy of the package in a folder with no shared/ anywhere above it; an audit
# hook records every file opened and folder listed, so a read of any other data folder would show.
_PROBE = r"""
import json, os, sys
seen = []
def hook(event, args):
    if event in ("open", "os.listdir", "os.scandir") and args and isinstance(args[0], (str, bytes, os.PathLike)):
        seen.append(os.path.abspath(os.fsdecode(args[0])))
sys.addaudithook(hook)

import needlework
from needlework.evals.flenqa.benchmark import FLenQAConfig, _build as build_flenqa
from needlework.evals.mdqa import MDQAConfig, build as build_mdqa
from needlework.tasks.files.dataset import GenerateConfig, generate_file

generate_file(GenerateConfig(task="niah", n=2, out="niah.jsonl", params={"context_chars": 600}), progress=False)
generate_file(GenerateConfig(task="mdqa_train", n=2, out="mdqa_train.jsonl", params={"num_docs": 3}), progress=False)
mdqa = build_mdqa(MDQAConfig(k=3, positions=[1], n=2), 0)
flenqa = build_flenqa(FLenQAConfig(n_base=1, lengths=[250], dispersions=["first"], paddings=["books"]), 0, False)
print(json.dumps({"package": needlework.__file__, "seen": seen, "items": [len(mdqa), len(flenqa)]}))
"""


def test_data_defaults_to_the_package_copy_with_its_licences(monkeypatch):
    monkeypatch.delenv("NEEDLEWORK_DATA", raising=False)
    root = data.data_root()
    assert root == PACKAGE / "resources"
    assert (root / data.NQ_FILE).is_file() and len(data.load_nq(str(root / data.NQ_FILE))) > 1000
    assert len(sorted((root / data.ESSAYS_DIR).glob("*.txt"))) > 20
    for folder in ("lost-in-the-middle", data.ESSAYS_DIR):
        assert "MIT License" in (root / folder / "LICENSE").read_text()


def test_needlework_data_still_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("NEEDLEWORK_DATA", str(tmp_path))
    assert data.data_root() == tmp_path


def test_presets_live_in_the_package():
    assert CONFIG_DIR == PACKAGE / "presets"
    assert {"cpu-demo", "mistral-7b", "gpt-3.5", "mistral-7b-v0.2-24k"} <= set(preset_names())
    assert (CONFIG_DIR / "accelerate" / "ddp.yaml").is_file()


def test_generators_and_benchmarks_read_only_the_package_copy(tmp_path):
    sandbox = tmp_path / "home"                      # no shared/ here nor in any parent of tmp_path
    assert not any((p / "shared").exists() for p in [sandbox, *sandbox.parents])
    shutil.copytree(PACKAGE, sandbox / "needlework", ignore=shutil.ignore_patterns("__pycache__"))
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("NEEDLEWORK_DATA", "PYTHONPATH")}
    env["PYTHONPATH"] = str(sandbox)
    proc = subprocess.run([sys.executable, "-c", _PROBE], cwd=work, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(out["package"]).resolve().parent == (sandbox / "needlework").resolve()
    assert out["items"][0] == 2 and out["items"][1] > 0 and (work / "niah.jsonl").exists() and (work / "mdqa_train.jsonl").exists()
    seen = [Path(p) for p in out["seen"]]
    assert not [p for p in seen if "shared" in p.parts], "something read a shared/ folder"
    resources = (sandbox / "needlework" / "resources").resolve()
    read = {p.resolve() for p in seen if p.suffix in (".gz", ".txt")}
    assert resources / data.NQ_FILE in read
    assert any(p.parent == resources / data.ESSAYS_DIR for p in read)


def test_no_module_names_a_shared_data_folder():
    pattern = re.compile(r"""["'/\\]shared["'/\\]""")
    offenders = [f"{f.relative_to(PACKAGE)}:{i}" for f in sorted(PACKAGE.rglob("*.py"))
                 for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert offenders == []

"""A wheel built from the repository carries the presets and the bundled data, and once installed into a fresh
virtual environment, `needlework run --dry-run` works from an empty folder (no checkout anywhere near).

Offline: the wheel is built without build isolation (setuptools comes from the test set-up), installed with
--no-deps, and the dependencies are made visible to the new environment by a .pth line naming this
environment's site-packages, which is read after the new environment's own, so the needlework found there is
the wheel's, never this checkout nor an editable install."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CPU_DEMO_STAGES = ("generate", "eval", "train", "loss-map", "report")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the sources, so the build leaves no build/ or egg-info in the checkout."""
    src = tmp_path_factory.mktemp("src")
    shutil.copy(REPO / "pyproject.toml", src)
    shutil.copy(REPO / "README.md", src)
    shutil.copytree(REPO / "needlework", src / "needlework", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-q", "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (whl,) = out.glob("needlework-*.whl")
    return whl


def test_wheel_holds_presets_and_data_with_licences(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for preset in ("cpu-demo", "mistral-7b", "gpt-3.5", "mistral-7b-v0.2-24k"):
        assert f"needlework/presets/{preset}.yaml" in names
    for acc in ("ddp", "fsdp", "deepspeed_zero3"):
        assert f"needlework/presets/accelerate/{acc}.yaml" in names
    assert "needlework/resources/lost-in-the-middle/nq-open-oracle.jsonl.gz" in names
    assert "needlework/resources/lost-in-the-middle/LICENSE" in names
    assert "needlework/resources/paul-graham-essays/LICENSE" in names
    essays = [n for n in names if n.startswith("needlework/resources/paul-graham-essays/") and n.endswith(".txt")]
    assert len(essays) == len(list((REPO / "needlework/resources/paul-graham-essays").glob("*.txt")))


def test_installed_wheel_dry_runs_from_an_empty_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                           "-q", str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "zz_needlework_test_deps.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("NEEDLEWORK_DATA", "PYTHONPATH")}
    where = subprocess.run([str(py), "-c", "import needlework; print(needlework.__file__)"], cwd=empty, env=env,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(venv), f"imported {where}, not the installed wheel"

    proc = subprocess.run([str(venv / "bin" / "needlework"), "run", "--dry-run"], cwd=empty, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("needlework run cpu-demo (plan)"))
    stages = {line.split()[0] for line in lines[head + 2:] if line.split() and line.split()[0] in CPU_DEMO_STAGES}
    assert stages == set(CPU_DEMO_STAGES)
    assert "estimated time" in proc.stdout
    assert list(empty.iterdir()) == []                  # a dry run writes nothing

"""The report reads only stage outputs: its numbers equal theirs, multi-seed cells are mean ± std, the
general benchmarks come out in Table 1 shape, and report.html renders in headless Chromium with its plots."""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess

import pytest
from report_fakes import fake_run

from needlework.report import write_report


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    manifest = fake_run(root)
    folder = root / "report" / "report-x"
    rep = write_report(root, manifest, folder)
    return root, folder, rep


def test_numbers_come_from_stage_outputs(report):
    root, folder, rep = report
    kv = rep["benchmarks"]["kv-retrieval"]
    base = json.loads((root / "eval/base-0000/results.json").read_text())["benchmarks"]["kv-retrieval"]
    assert kv["overall"]["base"]["accuracy"] == base["overall"]["metrics"]["value_acc"]["accuracy"]
    assert kv["overall"]["base"]["ci95"] == base["overall"]["metrics"]["value_acc"]["ci95"]
    seeds = [json.loads((root / f"eval/kv-s{s}-0000/results.json").read_text())["benchmarks"]["kv-retrieval"]
             for s in (0, 1)]
    accs = [s["overall"]["metrics"]["value_acc"]["accuracy"] for s in seeds]
    assert kv["overall"]["kv"]["accuracy"] == pytest.approx(statistics.fmean(accs))
    assert kv["overall"]["kv"]["std"] == pytest.approx(statistics.stdev(accs), abs=1e-6)
    ch = kv["change"]["kv"]["overall"]
    assert ch["delta"] == pytest.approx(kv["overall"]["kv"]["accuracy"] - kv["overall"]["base"]["accuracy"])
    assert ch["ci95"][0] < ch["delta"] < ch["ci95"][1]
    t1 = rep["benchmarks"]["general"]["table1"]
    assert t1["tasks"] == ["mmlu", "nq_open"]
    assert t1["rows"]["kv"]["mmlu"]["value"] == pytest.approx(0.495)
    assert t1["rows"]["kv"]["mmlu"]["delta"] == pytest.approx(-0.005)
    assert rep["training"][0]["loss"] == [2.0 / s for s in range(1, 6)]
    assert rep["data"][0]["tokens"] == {"min": 100, "mean": 102.0, "max": 104, "total": 510}
    md = (folder / "report.md").read_text()
    assert f"{kv['overall']['kv']['accuracy']:.3f} ± {kv['overall']['kv']['std']:.3f} (2 seeds)" in md
    assert "| kv | 0.495 ± 0.007 (-0.005) |" in md
    for png in ("kv-retrieval-by-position", "training-loss"):
        assert (folder / "plots" / f"{png}.png").exists()


def test_html_is_self_contained(report):
    _, folder, _ = report
    html = (folder / "report.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert html.count("<img ") == html.count('src="data:image/png;base64,') >= 3


def test_html_renders_in_headless_chromium(report, tmp_path):
    _, folder, _ = report
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh --tests installs it)")
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
           (folder / "report.html").as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    n_img = (folder / "report.html").read_text().count("<img ")
    assert f'data-images-total="{n_img}"' in dom
    assert f'data-images-decoded="{n_img}"' in dom, "some plot did not decode"
    shot = tmp_path / "shot.png"
    subprocess.run(cmd[:-3] + [f"--screenshot={shot}", "--window-size=1200,2000", (folder / "report.html").as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000

"""The report reads only stage outputs: its numbers equal theirs, multi-seed cells are mean ± std, changes
are paired over items, the three claims open it with a reading each, the general benchmarks come out in
Table 1 shape, and report.html renders in headless Chromium with its plots."""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess

import pytest
from report_fakes import fake_run

from needlework.evals.paired import paired_difference
from needlework.io import read_jsonl, write_jsonl
from needlework.report import write_report
from needlework.report.verdicts import claims


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
    assert t1["change"]["kv"]["mmlu"]["seeds"]["values"] == [0.0, -0.01]
    assert rep["training"][0]["loss"] == [2.0 / s for s in range(1, 6)]
    assert rep["data"][0]["tokens"] == {"min": 100, "mean": 102.0, "max": 104, "total": 510}
    md = (folder / "report.md").read_text()
    assert f"{kv['overall']['kv']['accuracy']:.3f} ± {kv['overall']['kv']['std']:.3f} (2 seeds)" in md
    assert "| model | MMLU | NQ-Open |" in md and "| kv | 0.495 ± 0.007 | 0.210 ± 0.000 |" in md
    assert "| change kv | -0.005 ± 0.007 (2 seeds) [" in md
    for png in ("kv-retrieval-by-position", "training-loss"):
        assert (folder / "plots" / f"{png}.png").exists()


def test_changes_are_paired_over_items(report):
    root, _, rep = report
    kv = rep["benchmarks"]["kv-retrieval"]
    def kv_scores(folder: str) -> list[float]:   # samples.jsonl holds general's rows too, as a real run's does
        return [r["scores"]["value_acc"] for r in read_jsonl(root / folder / "samples.jsonl")
                if r["benchmark"] == "kv-retrieval"]
    base = kv_scores("eval/base-0000")
    per_seed = [paired_difference(base, kv_scores(f"eval/kv-s{s}-0000"))["delta"] for s in (0, 1)]
    ch = kv["change"]["kv"]["overall"]
    assert ch["seeds"]["values"] == per_seed and ch["delta"] == pytest.approx(statistics.fmean(per_seed))
    assert ch["reading"] == "better" and ch["n"] == 60
    dict_ch = kv["change"]["kv"]["metrics"]["value_dict_acc"]
    assert dict_ch["reading"] == "better" and kv["other_metrics"]["value_dict_acc"]["base"]["accuracy"] == 0.15
    assert [c["value"] for c in kv["change"]["kv"]["position"]] == [1, 5, 10]


def test_report_opens_with_the_three_claims(report):
    _, folder, rep = report
    retrieval, transfer, general = rep["claims"]
    assert retrieval.startswith("Claim 1") and "value accuracy: base 0.200 -> kv 0.900, change +0.700" in retrieval
    assert "value-and-dictionary accuracy: base 0.150" in retrieval and retrieval.count(": better") == 2
    assert transfer == ("Claim 2, the skill transfers to real long-context tasks. No transfer benchmark: not "
                        "measured in this run.")
    assert "MMLU: base 0.500 -> kv 0.495, change -0.005" in general
    # 100 items and a -0.02 edge on the 90% interval: nothing here shows the ability kept within ±0.02
    assert "kv: inconclusive: not shown within the margin on MMLU, NQ-Open (margin ±0.02)" in general
    assert "no detectable change" not in general and "kept" not in general.split("Claim 3, general ability is kept")[1]
    md = (folder / "report.md").read_text()
    assert md.index("## verdict") < md.index("## summary") < md.index("## kv-retrieval")
    assert retrieval in md and general in md
    summary = md[md.index("## summary"):md.index("## kv-retrieval")]
    assert "value_acc" in summary and "value_dict_acc" in summary


def test_the_verdict_opens_as_a_table_with_coloured_readings(report):
    _, folder, rep = report
    rows = rep["verdict"]["rows"]
    assert rows[0][:2] == ["1. retrieval improves", "kv-retrieval, value_acc (" + rows[0][1].split("(")[1]]
    assert rows[0][5] == "better" and rows[0][2] == "0.200" and rows[0][3] == "0.900"
    assert [r[1] for r in rows if r[0] == "2. it transfers"] == ["transfer benchmarks"]   # none evaluated
    assert all(r[5] == "not measured in this run" for r in rows if r[0] == "2. it transfers")
    assert rows[-1][1] == "the claim, every testable task" and rows[-1][5].startswith("inconclusive")
    html = (folder / "report.html").read_text()
    verdict = html[html.index("verdict at a glance"):]
    assert verdict.index('<td class="good">better</td>') < verdict.index("Claim 1, retrieval improves")
    assert '<td class="open">not measured in this run</td>' in verdict


def test_single_seed_missing_items_and_no_general(tmp_path):
    manifest = fake_run(tmp_path, seeds=(0,), general=False)
    ft = tmp_path / "eval/kv-s0-0000/samples.jsonl"
    rows = list(read_jsonl(ft))
    write_jsonl(ft, rows[1:])   # one item lost on the fine-tuned side: reported, not silently dropped
    rep = write_report(tmp_path, manifest, tmp_path / "report" / "r")
    ch = rep["benchmarks"]["kv-retrieval"]["change"]["kv"]
    assert ch["overall"]["n"] == 59 and ch["missing"]["only_before"] == 1
    assert ch["missing"]["examples_only_before"] == [rows[0]["item_id"]]
    assert ch["overall"]["p"] is not None and ch["overall"]["seeds"] is None
    assert "not paired: 1 items only in base, 0 only in kv" in (tmp_path / "report/r/report.md").read_text()
    assert rep["claims"][2] == ("Claim 3, general ability is kept (general benchmarks, equivalence within a margin). "
                                "not measured in this run.")


def test_reading_says_when_the_exact_test_disagrees():
    from needlework.report.verdicts import change_words
    ch = {"delta": 0.133, "ci95": [0.007, 0.26], "p": 0.07, "n": 45, "reading": "better"}
    assert change_words(ch).endswith("better by the interval, though the exact McNemar test (conservative "
                                        "with few discordant items) has p >= 0.05")
    assert change_words({**ch, "p": 0.001}).endswith(": better")


def _kv_grid(correct: dict[int, list[int]], n: int = 6) -> dict:
    """A kv-retrieval results block as the runner writes it: `correct[length]` right of n at each of three depths."""
    from needlework.evals.aggregate import aggregate
    tokens = {6: 376, 32: 1529}
    rows = [{"bucket": f"length={length},position={depth}", "axes": {"length": length, "position": depth},
             "over_context": False, "prompt_tokens": tokens[length], "scores": {"value_acc": float(t < k)}}
            for length, ks in correct.items() for depth, k in zip((0.0, 0.5, 1.0), ks) for t in range(n)]
    return aggregate(rows, ("value_acc",), ("length", "position"))


def test_effective_length_sentence_carries_its_evidence():
    """15 of 18 right at the longest length passes 0.8 by its point estimate, not by its Wilson lower bound;
    the section is built by retrieval_section from results blocks, the shape a run produces."""
    from needlework.report.retrieval_grid import effective_length_sentence, retrieval_section
    runs = {"base": [_kv_grid({6: [1, 0, 0], 32: [0, 0, 0]})], "kv": [_kv_grid({6: [6, 6, 6], 32: [5, 5, 5]})]}
    eff = retrieval_section(runs, [{"arm": "kv", "tokens": {"mean": 369.0}}], ["kv"], 0.8)["effective_length"]
    text = effective_length_sentence(eff)
    assert text.startswith("Effective length (the longest tested length whose value_acc, averaged over depths, is "
                           ">= 0.8 there and at every shorter tested length; in mean prompt tokens): base below the "
                           "threshold at the shortest tested length (376 tokens) (first below: 1/18 = 0.06")
    assert ("kv >= 1,529 tokens (the longest tested), 4.1x the training length (decided by 15/18 = 0.83 "
            "[95% Wilson 0.61, 0.94] at 1,529 tokens; conservatively (Wilson lower bound >= 0.8): 376 tokens)") in text
    assert text.endswith("; training prompts of kv: 369 tokens on average.")
    assert effective_length_sentence(None) == ""
    rep = {"benchmarks": {}, "models": ["base", "kv"], "retrieval": {"effective_length": eff}}
    assert claims(rep)[0].endswith("not measured in this run.")


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

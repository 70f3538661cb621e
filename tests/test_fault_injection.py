"""scripts/fault_injection.py stays runnable: its classifier sorts outcomes as issue 21 defines them, and its
quick mode (cheap cases known to be clean: bad settings, missing or empty files, a pasted API key) passes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from fault_injection import Result, classify  # noqa: E402


def test_the_classifier():
    err = "usage: x\nneedlework: error: n must be >= 1, got 0\n"
    assert classify("fail", Result(2, "", err, 0.1))[0] == "clean"
    usage = "usage: ...\nneedlework eval: error: argument --limit: invalid\n"
    assert classify("fail", Result(2, "", usage, 0))[0] == "clean"
    tb = "Traceback (most recent call last):\n  ...\nValueError: x\n"
    assert classify("fail", Result(1, "", tb, 0))[0] == "traceback"
    assert classify("fail", Result(None, "", "", 60))[0] == "hang"
    assert classify("fail", Result(0, "ok", "", 0))[0] == "silent"
    assert classify("ok", Result(0, "ok", "", 0), wrong="stale cache reused") == ("silent", "stale cache reused")
    assert classify("ok", Result(2, "", err, 0))[0] == "other"                        # a correct input refused
    assert classify("fail", Result(2, "", err + "  in line 2\n    ^\n", 0))[0] == "other"   # not one line
    assert classify("fail", Result(2, "", "bar 0%|  |needlework: error: x\n", 0))[0] == "other"
    assert classify("either", Result(0, "", "", 0))[0] == classify("either", Result(2, "", err, 0))[0] == "clean"
    assert classify("fail", Result(1, "f: INVALID at file: empty\n", "", 0), report="INVALID at")[0] == "clean"
    assert classify("fail", Result(2, "", err, 0), wrong="data loss: m was deleted") == ("data loss", "m was deleted")
    assert classify("fail", Result(2, "", err, 0), wrong="misleading: not a timeout")[0] == "other"
    stopped = "needlework: interrupted; finished completions are kept\n"
    assert classify("interrupt", Result(130, "", stopped, 1))[0] == "clean"
    assert classify("interrupt", Result(None, "", "", 60))[0] == "hang"
    assert classify("interrupt", Result(3, "", err, 1))[0] == "other"


def test_the_cases_import_without_the_runner():
    """fault_cases and fault_injection used to import each other; both now import fault_harness only."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import fault_cases; "
            "assert 'fault_injection' not in sys.modules; print(len(fault_cases.CASES))")
    r = subprocess.run([sys.executable, "-c", code, str(ROOT / "scripts")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    names = [c.name for c in __import__("fault_cases").CASES]
    assert int(r.stdout) == len(names) == len(set(names)) > 140
    assert {"train-out-is-model", "eval-empty-lock", "eval-ctrl-c-during-request", "eval-reply-choices-dict",
            "eval-weights-replaced-cp-p", "eval-api-key-mistral"} <= set(names)


def test_quick_mode_is_clean(tmp_path):
    table = tmp_path / "faults.json"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "fault_injection.py"), "--quick", "--json", str(table)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads(table.read_text())
    assert result["counts"]["tried"] >= 15 and result["counts"]["clean"] == result["counts"]["tried"], r.stdout
    assert {c["name"] for c in result["cases"]} >= {"eval-api-key-override", "validate-empty-file", "eval-limit-0"}
    assert r.stdout.splitlines()[-1].startswith(f"tried {result['counts']['tried']} / clean ")

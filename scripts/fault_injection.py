"""Fault injection against the real CLI (issues 21, 32: nothing silently wrong or lost, no hang, every user
error one line).

Each case in scripts/fault_cases.py builds bad inputs in a temporary folder and runs one `needlework`
subcommand as a subprocess with a timeout and a memory cap; its outcome is classified:

  clean      failed (exit != 0) with stderr ending in one `needlework: error:` line (argparse's
             `needlework <cmd>: error:` counts too), or succeeded where success is correct
  traceback  stderr holds `Traceback (most recent call last)`
  hang       ran past its timeout (killed with its process group)
  silent     exit 0 where the input should have been refused, or a result known to be wrong
  data loss  something the user asked to keep (an input model, data, a config) was deleted or changed
  other      anything else (unclear): refused a correct input, a multi-line or unformatted error, a misleading
             message, Ctrl-C not answered with its one line, a setup failure

One line per case, then the counts; exit 1 when any case is not clean.

  .venv/bin/python scripts/fault_injection.py                 # every case (a few minutes on 2 cores)
  .venv/bin/python scripts/fault_injection.py --quick         # the cheap subset the smoke test runs
  .venv/bin/python scripts/fault_injection.py --only show-missing,eval-limit-0 --json table.json --keep
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_cases import CASES  # noqa: E402
from fault_harness import (TRACEBACK, Case, Fixtures, Result, build_tiny_model, classify,  # noqa: E402,F401
                           needlework_cmd, run_cli)


def run_case(case: Case, fx: Fixtures) -> dict:
    row = {"name": case.name, "expect": case.expect, "rc": None, "seconds": 0.0, "note": "", "last_stderr": ""}
    why = case.skip() if case.skip else None
    if why:
        return {**row, "outcome": "skipped", "note": why}
    cwd = fx.root / case.name
    cwd.mkdir(parents=True, exist_ok=True)
    try:
        if case.setup:
            case.setup(fx, cwd)
        env = {k: v.replace("{cwd}", str(cwd)) for k, v in (case.env or {}).items()}
        r = run_cli(fx.expand(case.args), cwd, case.timeout, env=env, interrupt_after=case.interrupt_after)
        wrong = case.check(fx, cwd, r) if case.check else None
    except Exception as e:   # noqa: BLE001 -- a broken fixture is reported, not fatal to the other cases
        return {**row, "outcome": "other", "note": f"setup: {type(e).__name__}: {e}"}
    outcome, note = classify(case.expect, r, wrong, case.report)
    if r.rc == 0 and case.expect == "fail":
        note += f"; stdout: {r.stdout.strip().splitlines()[-1][:120] if r.stdout.strip() else ''}"
    return {**row, "outcome": outcome, "rc": r.rc, "seconds": round(r.seconds, 1), "note": note,
            "last_stderr": r.last_line, "stderr_tail": r.stderr[-2000:] if outcome != "clean" else ""}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="only the cheap cases known to be clean (smoke test)")
    ap.add_argument("--only", help="comma-separated case names (or name prefixes ending in *)")
    ap.add_argument("--list", action="store_true", help="print the case names and exit")
    ap.add_argument("--json", help="write the per-case table here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = ap.parse_args(argv)
    cases = [c for c in CASES if c.quick] if args.quick else list(CASES)
    if args.only:
        want = [w.strip() for w in args.only.split(",") if w.strip()]
        cases = [c for c in cases if any(c.name == w or (w.endswith("*") and c.name.startswith(w[:-1]))
                                         for w in want)]
        missing = [w for w in want if not w.endswith("*") and w not in {c.name for c in cases}]
        if missing:
            ap.error(f"unknown case(s): {', '.join(missing)} (see --list)")
    if args.list:
        print("\n".join(f"{c.name}{'  [quick]' if c.quick else ''}" for c in cases))
        return 0
    root = Path(tempfile.mkdtemp(prefix="needlework-faults-"))
    fx, rows = Fixtures(root), []
    try:
        for case in cases:
            row = run_case(case, fx)
            rows.append(row)
            print(f"{row['name']:<34} {row['outcome']:<9} rc={str(row['rc']):<4} {row['seconds']:>5.1f}s  "
                  f"{(row['last_stderr'] or row['note'])[:150]}", flush=True)
    finally:
        if args.keep:
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    count = {k: sum(r["outcome"] == k for r in rows) for k in ("clean", "traceback", "hang", "silent", "data loss",
                                                                "other", "skipped")}
    tried = len(rows) - count["skipped"]
    print(f"tried {tried} / clean {count['clean']} / tracebacks {count['traceback']} / hangs {count['hang']} / "
          f"silent {count['silent']} / data loss {count['data loss']} / other {count['other']}"
          + (f" (skipped {count['skipped']})" if count["skipped"] else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"counts": {"tried": tried, **count}, "cases": rows}, indent=1))
    return 1 if tried - count["clean"] else 0


if __name__ == "__main__":
    sys.exit(main())

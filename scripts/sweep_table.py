"""One row per fine-tuned run of a `needlework run` (a sweep is a run with several arms, e.g. --preset cpu-sweep):
its training (steps, stopped early or not, seconds), the synthetic held-out score and the transfer probe at the
end and where each saturated, kv-retrieval, and the MDQA change against the base model with its paired 95%
interval. Reads only the report's report.json, so it prints what the report shows.

    python scripts/sweep_table.py runs/cpu-sweep            # markdown table on stdout
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _report(run: Path) -> dict:
    found = sorted(run.glob("report/report-*/report.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        sys.exit(f"sweep_table: no report.json under {run}/report/ (has the run finished?)")
    return json.loads(found[-1].read_text())


def _change(bench: dict | None, arm: str) -> str:
    ch = ((bench or {}).get("change", {}).get(arm) or {}).get("overall") or {}
    if ch.get("delta") is None:
        return "–"
    lo, hi = ch["ci95"]
    return f"{ch['after']:.3f} ({ch['delta']:+.3f} [{lo:+.3f}, {hi:+.3f}])"


def rows(rep: dict) -> list[list[str]]:
    out = []
    for t in rep["training"]:
        c = t.get("curve") or {}
        syn, probe = c.get("synthetic") or {}, c.get("transfer") or {}
        arm = t["arm"]
        run = f"{arm}-s{t['seed']}"
        stop = f"{t.get('global_step')}" + (" (stopped)" if t.get("stopped_early_at") else "")
        out.append([run, stop, f"{t['seconds']:.0f}" if t.get("seconds") else "–",
                    f"{syn['last']:.2f} @{syn['saturated_at']}" if syn else "–",
                    f"{probe['last']:.2f} (best {probe['best']:.2f} @{probe['saturated_at']})" if probe else "–",
                    _change(rep["benchmarks"].get("kv-retrieval"), arm), _change(rep["benchmarks"].get("mdqa"), arm)])
    return out


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit(__doc__)
    rep = _report(Path(argv[0]))
    base = {b: (v.get("overall", {}).get("base") or {}).get("accuracy") for b, v in rep["benchmarks"].items()}
    print(f"base: kv-retrieval {base.get('kv-retrieval')}, mdqa {base.get('mdqa')}\n")
    head = ["run", "steps", "train s", "synthetic held-out (last @saturated)", "transfer probe (last, best @sat.)",
            "kv-retrieval (change [95%])", "MDQA (change [95%])"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows(rep):
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Start-up of `needlework generate --tokenizer ...` as whole processes (wall time, median of --repeat runs).

New: `python -m needlework.cli generate --n N --tokenizer T` (the tokenizer comes from tokenizer.json alone).
Baseline, measured in the same run: the same command in a process that first loads the tokenizer the old way
(`transformers.AutoTokenizer`, which imports torch) -- what every run used to pay. Also reports whether the
new process imported torch or transformers (it must not).

    .venv/bin/python benchmarks/bench_startup.py [--n 10] [--chat-template] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN = """import json, sys
if sys.argv[1] == "baseline":
    from transformers import AutoTokenizer
    from needlework.models import bundled_tokenizer_dir, is_bundled
    t = sys.argv[2]
    AutoTokenizer.from_pretrained(str(bundled_tokenizer_dir(t)) if is_bundled(t) else t)
from needlework.cli import main
rc = main(sys.argv[3:])
print("HEAVY=" + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers"))))
sys.exit(rc)
"""


def run(mode: str, tokenizer: str, args: list[str]) -> tuple[float, list[str]]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", RUN, mode, tokenizer, *args], cwd=REPO, env=env,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    return wall, json.loads(r.stdout.split("HEAVY=")[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--tokenizer", default="smollm2-135m-instruct")
    ap.add_argument("--chat-template", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        args = ["generate", "--n", str(a.n), "--tokenizer", a.tokenizer, "--out", f"{tmp}/d.jsonl", "-q",
                *(["--chat-template"] if a.chat_template else [])]
        run("new", a.tokenizer, args)   # warm-up: first use of a tokenizer folder runs the one-time check
        new, base, heavy = [], [], []
        for _ in range(a.repeat):       # interleaved, so a change in machine load hits both alike
            w, heavy = run("new", a.tokenizer, args)
            new.append(w)
            base.append(run("baseline", a.tokenizer, args)[0])
    n, b = statistics.median(new), statistics.median(base)
    print(f"generate --n {a.n} --tokenizer {a.tokenizer}{' --chat-template' if a.chat_template else ''}: "
          f"{n:.2f} s wall (baseline with transformers' tokenizer {b:.2f} s, {b / n:.1f}x); "
          f"torch/transformers imported: {heavy or 'none'}")


if __name__ == "__main__":
    main()

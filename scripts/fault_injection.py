"""Fault injection against the real CLI (issue 21: nothing silently wrong, every user error one line).

Each case in scripts/fault_cases.py builds bad inputs in a temporary folder and runs one `needlework`
subcommand as a subprocess with a timeout and a memory cap; its outcome is classified:

  clean      failed (exit != 0) with stderr ending in one `needlework: error:` line (argparse's
             `needlework <cmd>: error:` counts too), or succeeded where success is correct
  traceback  stderr holds `Traceback (most recent call last)`
  hang       ran past its timeout (killed with its process group)
  silent     exit 0 where the input should have been refused, or a result known to be wrong
  other      anything else: refused a correct input, a multi-line or unformatted error, a setup failure

One line per case, then the counts; exit 1 when any case is not clean.

  .venv/bin/python scripts/fault_injection.py                 # every case (a few minutes on 2 cores)
  .venv/bin/python scripts/fault_injection.py --quick         # the cheap subset the smoke test runs
  .venv/bin/python scripts/fault_injection.py --only show-missing,eval-limit-0 --json table.json --keep
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

TRACEBACK = "Traceback (most recent call last)"
ERROR_LINE = re.compile(r"^needlework(?: [a-z][\w-]*)*: error: ")
MEMORY_CAP = 6 << 30        # bytes of address space per command: a runaway allocation fails, not the machine
ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
       "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def needlework_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "needlework"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "needlework.cli"]


@dataclass
class Result:
    rc: int | None          # None: timed out
    stdout: str
    stderr: str
    seconds: float

    @property
    def last_line(self) -> str:
        lines = [x for x in self.stderr.splitlines() if x.strip()]
        return lines[-1].strip() if lines else ""


def run_cli(args: list[str], cwd: Path, timeout: float, background: bool = False):
    """`needlework ARGS` in `cwd`, in its own process group (a timeout kills everything it started)."""
    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    p = subprocess.Popen(needlework_cmd() + [str(a) for a in args], cwd=cwd, env={**os.environ, **ENV},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                         start_new_session=True, preexec_fn=limits)
    if background:
        return p
    t0 = time.monotonic()
    try:
        out, err = p.communicate(timeout=timeout)
        return Result(p.returncode, out, err, time.monotonic() - t0)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return Result(None, out, err, time.monotonic() - t0)


def classify(expect: str, r: Result, wrong: str | None = None, report: str | None = None) -> tuple[str, str]:
    """(outcome, note). `expect`: fail (must be refused), ok (must succeed) or either (a clean refusal or a
    success are both right); `wrong`: the case's own check found the result wrong (-> silent); `report`: a
    command that refuses with a one-line report on stdout instead (validate) matches this regex."""
    if r.rc is None:
        return "hang", f"no answer in {r.seconds:.0f} s"
    if TRACEBACK in r.stderr:
        return "traceback", ""
    if r.rc == 0:
        if expect == "fail":
            return "silent", "exit 0 for an input that should be refused"
        return ("silent", wrong) if wrong else ("clean", "")
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    errors = [i for i, x in enumerate(lines) if ERROR_LINE.match(x)]
    if expect == "ok":
        return "other", "refused an input that should be accepted"
    if r.rc < 0:
        return "other", f"killed by signal {-r.rc}"
    out = [x for x in r.stdout.splitlines() if x.strip()]
    if report and not lines and len(out) == 1 and re.search(report, out[0]):
        return ("silent", wrong) if wrong else ("clean", f"refused on stdout: {out[0][:150]}")
    if not errors:
        glued = any("needlework: error:" in x for x in lines)
        return "other", ("the error line is glued to other output (a progress bar?)" if glued
                         else "failed without a `needlework: error:` line")
    if errors[-1] != len(lines) - 1 or len(errors) > 1:
        return "other", "the error is not one final line"
    return ("silent", wrong) if wrong else ("clean", "")


@dataclass
class Case:
    name: str
    args: list[str]                               # `{model}`-style placeholders name fixtures (Fixtures)
    expect: str = "fail"                          # fail | ok | either
    setup: Callable | None = None                 # setup(fx, cwd): writes inputs, may run commands
    check: Callable | None = None                 # check(fx, cwd, result) -> why the result is wrong, or None
    timeout: float = 120.0
    quick: bool = False                           # in --quick (cheap and known clean)
    skip: Callable[[], str | None] | None = None  # -> why it cannot run here
    report: str | None = None                     # a refusal on stdout matching this (validate's report) is clean


@dataclass
class Fixtures:
    """Inputs shared by cases, built on first use under ROOT/fixtures: `model` (a tiny random Llama with
    SmolLM2's tokenizer), `trunc` (the same with model.safetensors cut to half), `data` (4 simple_kv rows)."""
    root: Path
    built: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        if name not in self.built:
            d = self.root / "fixtures"
            d.mkdir(parents=True, exist_ok=True)
            self.built[name] = str(getattr(self, f"_{name}")(d).resolve())
        return self.built[name]

    def _model(self, d: Path) -> Path:
        return build_tiny_model(d / "tiny", seed=0)

    def _trunc(self, d: Path) -> Path:
        out = d / "tiny-truncated"
        shutil.copytree(self["model"], out)
        w = out / "model.safetensors"
        os.truncate(w, w.stat().st_size // 2)
        return out

    def _data(self, d: Path) -> Path:
        r = run_cli(["generate", "--n", "4", "--out", "data.jsonl", "params.num_dict=3", "-q"], d, 120)
        if r.rc != 0:
            raise RuntimeError(f"fixture data: {r.last_line}")
        return d / "data.jsonl"

    def cli(self, args: list[str], cwd: Path, timeout: float = 300) -> Result:
        """A setup step that must succeed."""
        r = run_cli(self.expand(args), cwd, timeout)
        if r.rc != 0:
            raise RuntimeError(f"setup `needlework {' '.join(map(str, args))}` failed: {r.last_line}")
        return r

    def expand(self, args: list[str]) -> list[str]:
        return [re.sub(r"\{(\w+)\}", lambda m: self[m.group(1)], str(a)) for a in args]


def build_tiny_model(out: Path, seed: int = 0) -> Path:
    """tests/conftest.py's tiny_model_dir: a 2-layer random Llama with the bundled SmolLM2 tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from needlework.models import bundled_tokenizer_dir
    tok = AutoTokenizer.from_pretrained(bundled_tokenizer_dir("smollm2-135m-instruct"))
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
                      tie_word_embeddings=True)
    torch.manual_seed(seed)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):   # its "Writing model shards" bar
        LlamaForCausalLM(cfg).save_pretrained(out)
        tok.save_pretrained(out)
    return out


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
        r = run_cli(fx.expand(case.args), cwd, case.timeout)
        wrong = case.check(fx, cwd, r) if case.check else None
    except Exception as e:   # noqa: BLE001 -- a broken fixture is reported, not fatal to the other cases
        return {**row, "outcome": "other", "note": f"setup: {type(e).__name__}: {e}"}
    outcome, note = classify(case.expect, r, wrong, case.report)
    if r.rc == 0 and case.expect == "fail":
        note += f"; stdout: {r.stdout.strip().splitlines()[-1][:120] if r.stdout.strip() else ''}"
    return {**row, "outcome": outcome, "rc": r.rc, "seconds": round(r.seconds, 1), "note": note,
            "last_stderr": r.last_line, "stderr_tail": r.stderr[-2000:] if outcome != "clean" else ""}


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fault_cases import CASES
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
    count = {k: sum(r["outcome"] == k for r in rows) for k in ("clean", "traceback", "hang", "silent", "other",
                                                                "skipped")}
    tried = len(rows) - count["skipped"]
    print(f"tried {tried} / clean {count['clean']} / tracebacks {count['traceback']} / hangs {count['hang']} / "
          f"silent {count['silent']} / other {count['other']}" + (f" (skipped {count['skipped']})"
                                                                   if count["skipped"] else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"counts": {"tried": tried, **count}, "cases": rows}, indent=1))
    return 1 if tried - count["clean"] else 0


if __name__ == "__main__":
    sys.exit(main())

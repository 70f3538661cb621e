"""What scripts/fault_injection.py and scripts/fault_cases.py share: running the CLI in a sandbox, classifying
its outcome, the Case record and the shared fixtures. Kept apart so that neither script imports the other's
module at import time (fault_cases needs these, fault_injection needs the cases)."""
from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
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


def run_cli(args: list[str], cwd: Path, timeout: float, background: bool = False, env: dict | None = None,
            interrupt_after: float | None = None):
    """`needlework ARGS` in `cwd`, in its own process group (a timeout kills everything it started);
    `interrupt_after`: send it SIGINT (Ctrl-C) after that many seconds, then give it 5 s to end."""
    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    p = subprocess.Popen(needlework_cmd() + [str(a) for a in args], cwd=cwd, env={**os.environ, **ENV, **(env or {})},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                         start_new_session=True, preexec_fn=limits)
    if background:
        return p
    t0 = time.monotonic()
    try:
        if interrupt_after is not None:
            try:
                out, err = p.communicate(timeout=interrupt_after)
                return Result(p.returncode, out, err, time.monotonic() - t0)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGINT)
                timeout = 5.0
        out, err = p.communicate(timeout=timeout)
        return Result(p.returncode, out, err, time.monotonic() - t0)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return Result(None, out, err, time.monotonic() - t0)


def classify(expect: str, r: Result, wrong: str | None = None, report: str | None = None) -> tuple[str, str]:
    """(outcome, note). `expect`: fail (must be refused), ok (must succeed), either (a clean refusal or a
    success are both right) or interrupt (Ctrl-C was sent: it must end at once with its one `needlework:
    interrupted;` line); `wrong`: the case's own check found the result wrong (-> silent, or data loss when it
    begins "data loss:", or misleading when it begins "misleading:"); `report`: a command that refuses with a
    one-line report on stdout instead (validate) matches this regex."""
    if wrong and wrong.startswith("data loss:"):
        return "data loss", wrong[len("data loss:"):].strip()
    if r.rc is None:
        return "hang", f"no answer in {r.seconds:.0f} s"
    if TRACEBACK in r.stderr:
        return "traceback", ""
    if wrong and wrong.startswith("misleading:"):
        return "other", wrong
    if expect == "interrupt":
        last = r.last_line
        return (("clean", "") if r.rc == 130 and last.startswith("needlework: interrupted;")
                else ("other", f"after Ctrl-C: rc {r.rc}, last line {last[:100]!r}"))
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
    env: dict | None = None                       # extra environment ({cwd} in a value: the case's folder)
    interrupt_after: float | None = None          # send Ctrl-C after this many seconds (expect="interrupt")
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

"""bf16 or fp32, chosen by what this machine's processor can do, never by how busy it is.

A CPU without native bf16 instructions (AVX512-BF16 / AMX on x86, the BF16 extension on Arm) runs bf16
autocast through emulation: on an AVX2-only EPYC one SmolLM2 training step took 589 s instead of ~24 s in
fp32. A CPU that has them can be twice as fast in bf16. So `precision: auto` (the default in every preset) means:

  GPU: bf16 where the device supports it.
  CPU: bf16 where the instructions exist, fp32 otherwise.

The choice reads the CPU's flags only, never a timing: a run's precision decides its numbers, and the same
command must give the same numbers on two machines of one class however loaded each is (a timed check under
load once chose fp32 on a CPU with AMX that runs bf16 2.3x faster when idle). A short calibration (linear layers
forward + backward at a SmolLM2-like width, fp32 vs bf16 autocast, interleaved, best of several rounds; cached
per machine) still measures the cost of an explicit `precision: bf16` on a CPU without native bf16, which is
honoured with a warning carrying the slowdown. Every choice has a one-line reason that is printed and saved in
provenance.

One setting, one resolution: `precision` (auto | bf16 | fp32), `device` (auto | cpu | cuda | cuda:1 ...) and the
CPU threads are resolved once per run by `resolve_context` into a `RunContext` (each choice with its reason),
which is handed to every stage (training and its MDQA probe, each evaluation's backend, `general`'s hf
model, the plan's measurements, the loss map, the head maps); no stage resolves them again. A stage started on
its own (`needlework train`, `eval`, `loss-map`, `heads`) resolves once at its entry. The head maps take the
run's context but keep `precision: fp32` as their default (probes/head_maps.HeadMapsConfig says why).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

NATIVE_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")   # x86 (AVX512-BF16, AMX) and aarch64 ("bf16" feature)
CALIBRATION_VERSION = 1             # bump when the calibration changes, so cached verdicts are redone

SETTINGS = ("auto", "bf16", "fp32")
Setting = Literal["auto", "bf16", "fp32"]


@dataclass(frozen=True)
class Precision:
    bf16: bool
    reason: str
    device: str
    native: bool | None = None          # CPU has bf16 instructions (None on GPU / unknown)
    speedup: float | None = None        # measured fp32 time / bf16 time (None where not measured)

    @property
    def name(self) -> str:
        return "bf16" if self.bf16 else "fp32"

    @property
    def dtype_name(self) -> str:
        """The torch dtype's name (bfloat16 | float32), as transformers and lm-eval spell it."""
        return "bfloat16" if self.bf16 else "float32"

    @property
    def torch_dtype(self):
        import torch
        return torch.bfloat16 if self.bf16 else torch.float32

    def as_dict(self) -> dict:
        return asdict(self)


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux reports them (empty where /proc/cpuinfo is not available)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        key = line.split(":", 1)[0].strip().lower()
        if key in ("flags", "features"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_native_bf16() -> bool:
    # oneDNN's ISA can be capped below what the CPU has (ONEDNN_MAX_CPU_ISA=AVX2 emulates an AVX2-only machine):
    # then bf16 runs emulated whatever the flags say.
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "").upper()
    if cap and not any(k in cap for k in ("BF16", "AMX", "ALL", "DEFAULT")):
        return False
    return bool(cpu_flags() & set(NATIVE_FLAGS))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_key() -> str:
    """Identifies what the calibration depends on: CPU, its flags, the ISA cap, torch, threads."""
    import torch
    blob = json.dumps([_cpu_model(), sorted(cpu_flags()), os.environ.get("ONEDNN_MAX_CPU_ISA"),
                       os.environ.get("ATEN_CPU_CAPABILITY"), torch.__version__, torch.get_num_threads(),
                       CALIBRATION_VERSION])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _cache_file() -> Path:
    from .models import cache_dir
    return cache_dir() / "precision.json"


def calibrate(rounds: int = 3, tokens: int = 256, width: int = 576, hidden: int = 1536) -> float:
    """fp32 time / bf16-autocast time of linear layers forward + backward at a SmolLM2-like width.

    Interleaved rounds, best of each: a load change on a shared machine hits both sides alike."""
    import torch
    g = torch.Generator().manual_seed(0)
    x = torch.randn(tokens, width, generator=g)
    w1 = torch.randn(hidden, width, generator=g, requires_grad=True)
    w2 = torch.randn(width, hidden, generator=g, requires_grad=True)

    def step(bf16: bool) -> float:
        t = time.perf_counter()
        for _ in range(3):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                y = torch.nn.functional.linear(torch.nn.functional.silu(torch.nn.functional.linear(x, w1)), w2)
            y.float().square().mean().backward()
        return time.perf_counter() - t

    step(False), step(True)   # warm-up: first calls pick kernels and allocate
    best = {False: float("inf"), True: float("inf")}
    for r in range(rounds):
        for bf16 in ((False, True) if r % 2 == 0 else (True, False)):
            best[bf16] = min(best[bf16], step(bf16))
    return best[False] / best[True]


def measured_speedup(use_cache: bool = True) -> float:
    """bf16 speed-up on this CPU, from the per-machine cache or a fresh calibration (then cached)."""
    key = machine_key()
    path = _cache_file()
    cache: dict = {}
    if use_cache and path.exists():
        try:
            cache = json.loads(path.read_text())
        except (OSError, ValueError):
            cache = {}
        if key in cache:
            return float(cache[key]["speedup"])
    speedup = calibrate()
    try:
        from .io import write_json
        cache[key] = {"speedup": round(speedup, 3), "cpu": _cpu_model(), "measured": time.strftime("%Y-%m-%d %H:%M")}
        write_json(path, cache)
    except OSError:
        pass   # a read-only cache only costs a re-calibration next time
    return speedup


def check_device(device: str, setting: str = "device") -> None:
    """Refuse a device this machine does not have, before any work (a `cuda` run on a CPU box trained on the CPU
    and recorded cuda; `cuda:1` on a one-GPU box, or `gpu`, ended in a traceback). torch is imported only for an
    explicit GPU setting."""
    from .config import ConfigError
    kind, _, index = str(device).partition(":")
    if device in ("auto", "cpu") or kind in ("mps", "xpu"):
        return
    if kind != "cuda" or (index and not index.isdigit()):
        raise ConfigError(f"{setting}: {device!r} is not a device: use auto, cpu, cuda or cuda:N")
    import torch
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n == 0:
        raise ConfigError(f"{setting}={device}: torch sees no CUDA GPU on this machine; use auto or cpu")
    if index and int(index) >= n:
        raise ConfigError(f"{setting}={device}: this machine has {n} GPU(s), cuda:0 to cuda:{n - 1}")


def resolve_device(device: str = "auto") -> str:
    """auto: this process's GPU where there is one (its local rank under a launch), else the CPU."""
    if device != "auto":
        return device
    import torch
    if torch.cuda.is_available():
        return f"cuda:{os.environ['LOCAL_RANK']}" if "LOCAL_RANK" in os.environ else "cuda"
    return "cpu"


def resolve(setting: Setting | bool | str = "auto", device: str = "auto", *, log=None) -> Precision:
    """The one resolution of a stage's (precision, device) settings: the device, then bf16 or fp32 on it."""
    return choose(setting, resolve_device(device), log=log)


def choose(setting: Setting | bool | str = "auto", device: str = "cpu", *, log=None) -> Precision:
    """Resolve a precision setting (auto / bf16 / fp32; true / false mean bf16 / fp32) for `device`."""
    setting = _normalise(setting)
    dev = device.split(":")[0]
    if dev == "cuda":
        import torch
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        if setting is False:
            p = Precision(False, "bf16 off by configuration", device)
        elif setting is True or ok:
            p = Precision(True, "GPU supports bf16" if ok else "bf16 on by configuration (GPU lacks native bf16)",
                          device)
        else:
            p = Precision(False, "auto: this GPU has no native bf16", device)
        return _report(p, log)
    if dev != "cpu":   # mps / xpu / ...: trust the configuration, default fp32
        return _report(Precision(setting is True, f"bf16 {'on' if setting is True else 'off'} on {dev}", device), log)
    native = cpu_has_native_bf16()
    if setting is False:
        return _report(Precision(False, "bf16 off by configuration", device, native), log)
    if setting is True:
        if native:
            return _report(Precision(True, "bf16 on by configuration (CPU has native bf16)", device, native), log)
        speedup = measured_speedup()
        p = Precision(True, f"bf16 on by configuration, but this CPU has no native bf16: measured {1 / speedup:.1f}x "
                            "slower than fp32 (set precision: auto or fp32)", device, native, round(speedup, 3))
        print(f"needlework: warning: {p.reason}", file=sys.stderr)
        return _report(p, log)
    if not native:
        return _report(Precision(False, "auto: this CPU has no native bf16 instructions (no avx512_bf16/amx_bf16); "
                                        "bf16 would be emulated", device, native), log)
    return _report(Precision(True, "auto: this CPU has native bf16 instructions (avx512_bf16/amx_bf16)", device,
                             native), log)


def _normalise(setting) -> Literal["auto"] | bool:
    if isinstance(setting, bool):
        return setting
    s = str(setting).strip().lower()
    if s in ("auto",):
        return "auto"
    if s in ("true", "bf16", "1", "yes", "on"):
        return True
    if s in ("false", "fp32", "0", "no", "off"):
        return False
    from .config import ConfigError
    raise ConfigError(f"precision must be auto, bf16 or fp32, not {setting!r}")


def _report(p: Precision, log) -> Precision:
    if log is not None:
        log(f"precision: {p.name} ({p.reason})")
    return p


def available_cores() -> int:
    """The CPUs this process may run on (its affinity: a container's or taskset's share), else the machine's."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):   # not on Linux
        return max(1, os.cpu_count() or 1)


def _omp_threads() -> int | None:
    """OMP_NUM_THREADS when it holds a positive count (set by the user, or by torchrun for each process)."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


@dataclass(frozen=True)
class RunContext:
    """Where and how a run computes, resolved once (`resolve_context`) and handed to every stage."""
    precision: Precision                # bf16 or fp32 on the device, with its reason
    threads: int                        # torch CPU threads for every stage
    threads_reason: str

    @property
    def device(self) -> str:
        return self.precision.device

    def apply(self) -> None:
        """Set the process's torch threads (idempotent; a stage calls it at its start)."""
        import torch
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    def precision_for(self, setting: Setting | bool | str) -> Precision:
        """A stage with its own precision default (the head maps' fp32): the run's where it agrees, else that
        setting on the run's device (an fp32 copy needs no measurement)."""
        wanted = _normalise(setting)
        if wanted == "auto" or wanted == self.precision.bf16:
            return self.precision
        return choose(wanted, self.device)

    def as_dict(self) -> dict:
        return {"device": self.device, "precision": self.precision.name, "precision_reason": self.precision.reason,
                "threads": self.threads, "threads_reason": self.threads_reason}


def resolve_context(precision: Setting | bool | str = "auto", device: str = "auto", threads: int | None = None,
                    *, log=None) -> RunContext:
    """The run's one resolution: threads first (the bf16 calibration is timed, and cached, at them), then the
    device, then bf16 or fp32 on it. `threads`: an explicit count, else OMP_NUM_THREADS where set, else every core
    this process may use."""
    cores = available_cores()
    if threads is not None and threads < 1:
        from .config import ConfigError
        raise ConfigError(f"threads must be >= 1 (or left out: all {cores} cores this process may use), got {threads}")
    omp = _omp_threads()
    if threads:
        why = f"{threads} by configuration ({cores} available)"
    elif omp:   # torchrun sets 1 per process, and a user who set it meant it: never oversubscribe past it
        why, threads = f"OMP_NUM_THREADS={omp} ({cores} cores available)", omp
    else:
        why = f"all {cores} cores this process may use, by its CPU affinity"
    ctx_threads = threads or cores
    import torch
    torch.set_num_threads(ctx_threads)
    ctx = RunContext(resolve(precision, device, log=log), ctx_threads, why)
    if log is not None:
        log(f"threads: {ctx.threads} ({why})")
    return ctx

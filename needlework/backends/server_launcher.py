"""Start and stop a local OpenAI-compatible server: any command (ModelServer: vLLM, SGLang, ...), or a llama.cpp
server (`python -m llama_cpp.server`) for a GGUF model (LlamaServer).

Used by the server tests and by anyone who wants the openai backend without a GPU server:

    with LlamaServer("smollm2-135m-instruct", n_ctx=8192) as srv:
        backend = make_backend(BackendConfig(kind="openai", model=srv.model_alias, context_length=srv.n_ctx,
                                             openai=OpenAIBackendConfig(base_url=srv.base_url)))

The server binds 127.0.0.1 only, on a free port, and logs to a file whose tail is shown if it fails.
"""
from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .base import BackendError


def llama_cpp_available() -> bool:
    """Whether llama-cpp-python with its server extra is installed (scripts/setup.sh --tests installs it)."""
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("uvicorn") is not None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def resolve_gguf(model: str | os.PathLike) -> Path:
    """A bundled model name becomes its GGUF file; a path must be an existing .gguf file."""
    from ..models import gguf_path, is_bundled

    if is_bundled(str(model)):
        return gguf_path(str(model))
    path = Path(model)
    if not path.is_file():
        raise BackendError(f"no GGUF file at {path} (and {str(model)!r} is not a bundled model name)")
    return path


class ModelServer:
    """Any OpenAI-compatible server started as a child process (vLLM, SGLang, llama.cpp, ...): start it, wait
    until GET <base_url>/models answers, stop it (terminate, then kill). It binds `host` (127.0.0.1) on a free
    port and logs to a file whose tail is shown when it fails."""

    def __init__(self, command: list[str], *, host: str = "127.0.0.1", port: int | None = None,
                 startup_timeout_s: float = 120.0, name: str = "model server"):
        self.host, self.port = host, port or free_port(host)
        self.cmd, self.name, self.startup_timeout_s = list(command), name, startup_timeout_s
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        return self.cmd

    def start(self):
        if self.proc is not None:
            return self
        fd, log = tempfile.mkstemp(prefix="model-server-", suffix=".log")
        self.log_path = Path(log)
        try:
            with os.fdopen(fd, "wb") as f:
                self.proc = subprocess.Popen(self.command(), stdout=f, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as e:   # the command itself is missing
            raise BackendError(f"{self.name}: cannot start {self.command()[0]!r}: {e}") from None
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BackendError(f"{self.name} exited with code {self.proc.returncode} while starting:\n"
                                   f"{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=2) as r:
                    if r.status == 200 and json.loads(r.read()).get("data") is not None:
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.25)
        raise BackendError(f"{self.name} on {self.base_url} not ready after {self.startup_timeout_s:.0f} s:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()  # our own child, by its pid
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class LlamaServer(ModelServer):
    def __init__(self, model: str | os.PathLike, *, n_ctx: int = 4096, model_alias: str | None = None,
                 host: str = "127.0.0.1", port: int | None = None, n_threads: int | None = None,
                 startup_timeout_s: float = 120.0, extra_args: list[str] | None = None):
        self.gguf = resolve_gguf(model)
        super().__init__([], host=host, port=port, startup_timeout_s=startup_timeout_s,
                         name=f"llama.cpp server ({self.gguf.name})")
        self.n_ctx = n_ctx
        self.model_alias = model_alias or (str(model) if os.sep not in str(model) else self.gguf.stem)
        self.n_threads = n_threads or max(1, min(4, os.cpu_count() or 1))
        self.extra_args = list(extra_args or [])

    def command(self) -> list[str]:
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf), "--model_alias",
                self.model_alias, "--host", self.host, "--port", str(self.port), "--n_ctx", str(self.n_ctx),
                "--n_threads", str(self.n_threads), *self.extra_args]

    def start(self) -> "LlamaServer":
        if not llama_cpp_available():
            raise BackendError("llama-cpp-python[server] is not installed; run scripts/setup.sh --tests "
                               "(or pip install -c constraints.txt 'llama-cpp-python[server]')")
        return super().start()

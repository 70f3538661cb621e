"""Model access behind one interface; `make_backend(BackendConfig(...))` picks the implementation.

    kind: hf       transformers in this process (CPU or GPU), a local folder or bundled model name
    kind: openai   any OpenAI-compatible server: OpenAI itself, vLLM, SGLang, llama.cpp, TGI

Backends are imported lazily so that `import needlework.backends` costs neither torch nor openai.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Mapping

from ..config import ConfigError, from_dict
from .base import Backend, BackendError, Completion, ContextTooLong, Request, fits, overflowing
from .config import BackendConfig, HFBackendConfig, OpenAIBackendConfig

__all__ = ["Backend", "BackendConfig", "BackendError", "Completion", "ContextTooLong", "HFBackendConfig",
           "OpenAIBackendConfig", "Request", "fits", "make_backend", "overflowing", "serving"]


@contextlib.contextmanager
def serving(cfg: BackendConfig, model: str) -> Iterator[BackendConfig]:
    """`cfg` itself, or, when it has a `serve` command (backend.openai.serve): a server started for `model` (waited
    for until it answers), yielding the config that reaches it (base_url, served name), stopped on the way out."""
    if not cfg.openai.serve:
        yield cfg
        return
    from .server_launcher import ModelServer, free_port
    port, alias = free_port(), cfg.model if cfg.model and cfg.model != model else Path(model).name
    command = [str(a).format(model=model, alias=alias, host="127.0.0.1", port=port) for a in cfg.openai.serve]
    with ModelServer(command, port=port, startup_timeout_s=cfg.openai.serve_timeout_s,
                     name=f"server for {alias}") as srv:
        yield cfg.with_settings(base_url=srv.base_url, model=alias, serve=None)


def make_backend(cfg: BackendConfig | Mapping, context=None) -> Backend:
    """Build the backend `cfg` describes (a BackendConfig or a plain mapping of its fields); `context`: the run's
    precision.RunContext for a local model (None: the hf backend resolves its own)."""
    if not isinstance(cfg, BackendConfig):
        cfg = from_dict(BackendConfig, dict(cfg), "backend")
    cfg.validate()
    if cfg.kind == "hf":
        from .hf import HFBackend
        return HFBackend.from_config(cfg, context)
    if cfg.kind == "openai":
        from .openai_compat import OpenAIBackend
        return OpenAIBackend.from_config(cfg)
    raise ConfigError(f"backend.kind must be hf or openai, not {cfg.kind!r}")

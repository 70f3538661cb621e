"""Model access behind one interface; `make_backend(BackendConfig(...))` picks the implementation.

    kind: hf       transformers in this process (CPU or GPU), a local folder or bundled model name
    kind: openai   any OpenAI-compatible server: OpenAI itself, vLLM, SGLang, llama.cpp, TGI

Backends are imported lazily so that `import needlework.backends` costs neither torch nor openai.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

from ..config import ConfigError, from_dict
from ..io import to_jsonable
from .base import Backend, BackendError, Completion, ContextTooLong, Request, fits, overflowing

__all__ = ["Backend", "BackendConfig", "BackendError", "Completion", "ContextTooLong", "Request",
           "fits", "make_backend", "overflowing"]


@dataclass
class BackendConfig:
    kind: Literal["hf", "openai"] = "hf"
    # hf: folder or bundled name; openai: the served model name. In an evaluation "" means the model being
    # evaluated (EvalConfig.model fills it in); a served alias set here wins over it.
    model: str = ""
    # How requests become text: messages templated when possible (auto), prompts too (on), nothing (off).
    chat_template: Literal["auto", "on", "off"] = "auto"
    system_prompt: str | None = None            # prepended as a system turn to chat requests lacking one
    context_length: int | None = None           # overrides what the model config / server reports
    progress: bool = True
    # hf only
    batch_size: int = 8
    dtype: Literal["auto", "bf16", "fp32"] = "auto"   # auto: bf16 where native and measured faster (precision.py)
    device: str = "auto"                        # auto, cpu, cuda, cuda:1, ...
    seed: int = 0                               # only matters when temperature > 0
    max_padding: float = 0.1                    # static engine: start a new batch rather than pad more than this
    # continuous: batch_size rows decode together, a row leaves the step it ends and a waiting prompt takes
    # its place, shared prompt prefixes are prefilled once; static: padded batches decode until their longest
    # row ends (the original path; same greedy outputs, slower)
    engine: Literal["continuous", "static"] = "continuous"
    # openai only
    base_url: str | None = None                 # e.g. http://127.0.0.1:8000/v1; None = api.openai.com
    api_key_env: str = "OPENAI_API_KEY"         # the variable holding the key (the key itself is never stored)
    concurrency: int = 8
    timeout_s: float = 120.0
    max_retries: int = 5
    backoff_s: float = 1.0                      # first retry delay; doubles each retry, at most 30 s
    tokenizer: str | None = None                # local tokenizer (folder or bundled name) for exact token counts

    # How requests travel and how failures are retried, not what the model answers.
    BOOKKEEPING = ("progress", "concurrency", "timeout_s", "max_retries", "backoff_s", "api_key_env")

    def identity(self) -> dict:
        """The settings that shape completions: the eval cache and the pipeline's eval keys hash this."""
        d = to_jsonable(self)
        for k in self.BOOKKEEPING:
            d.pop(k)
        return d

    def validate(self) -> None:
        for name in ("batch_size", "concurrency"):
            if getattr(self, name) < 1:
                raise ConfigError(f"backend.{name} must be at least 1, got {getattr(self, name)}")
        if self.max_retries < 0 or self.timeout_s <= 0 or self.backoff_s < 0:
            raise ConfigError("backend.max_retries and backend.backoff_s must be >= 0 and backend.timeout_s > 0")
        if not 0 <= self.max_padding <= 1:
            raise ConfigError(f"backend.max_padding must be between 0 and 1, got {self.max_padding}")
        if self.context_length is not None and self.context_length < 1:
            raise ConfigError(f"backend.context_length must be positive, got {self.context_length}")
        if not self.model:
            raise ConfigError("backend.model must name a model")
        if self.engine not in ("continuous", "static"):
            raise ConfigError(f"backend.engine must be continuous or static, got {self.engine!r}")


def make_backend(cfg: BackendConfig | Mapping) -> Backend:
    """Build the backend `cfg` describes (a BackendConfig or a plain mapping of its fields)."""
    if not isinstance(cfg, BackendConfig):
        cfg = from_dict(BackendConfig, dict(cfg), "backend")
    cfg.validate()
    if cfg.kind == "hf":
        from .hf import HFBackend

        return HFBackend(cfg.model, chat_template=cfg.chat_template, system_prompt=cfg.system_prompt,
                         batch_size=cfg.batch_size, dtype=cfg.dtype, device=cfg.device,
                         context_length=cfg.context_length, progress=cfg.progress, seed=cfg.seed,
                         max_padding=cfg.max_padding, engine=cfg.engine)
    if cfg.kind == "openai":
        from .openai_compat import OpenAIBackend

        return OpenAIBackend(cfg.model, base_url=cfg.base_url, api_key_env=cfg.api_key_env,
                             chat_template=cfg.chat_template, system_prompt=cfg.system_prompt,
                             concurrency=cfg.concurrency, timeout_s=cfg.timeout_s, max_retries=cfg.max_retries,
                             backoff_s=cfg.backoff_s, context_length=cfg.context_length,
                             tokenizer=cfg.tokenizer, progress=cfg.progress)
    raise ConfigError(f"backend.kind must be hf or openai, not {cfg.kind!r}")

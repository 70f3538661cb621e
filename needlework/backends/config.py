"""BackendConfig: how an evaluated model is reached, one typed record that every backend reads its settings from."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import ClassVar, Literal

from ..config import ConfigError
from ..io import to_jsonable

_VAR_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")   # an environment variable's name as shells and CI systems write it
KEY_PREFIXES = ("sk-", "sk_", "hf_", "key-", "gsk_", "xai-")   # how API keys begin, not variable names


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
    # the one precision and device (needlework.precision.resolve; in a run: the run's top-level settings)
    precision: Literal["auto", "bf16", "fp32"] = "auto"   # auto: bf16 where native and measured faster
    device: str = "auto"                        # auto, cpu, cuda, cuda:1, ... (general's hf model runs here too)
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
    # openai only: start this server for each evaluated model and stop it afterwards (vLLM, SGLang, llama.cpp);
    # {model} is the evaluated model (a folder, a GGUF file, a hub name), {alias} the name it is served under,
    # {host} 127.0.0.1, {port} a free port. E.g. [vllm, serve, "{model}", --served-model-name, "{alias}",
    # --host, "{host}", --port, "{port}"]; base_url is then the started server's.
    serve: list[str] | None = None
    serve_timeout_s: float = 900.0              # how long the started server may take to answer /v1/models

    RENAMED: ClassVar[dict[str, str]] = {"dtype": "precision (auto | bf16 | fp32)"}
    # How requests travel and how failures are retried, not what the model answers.
    BOOKKEEPING: ClassVar[tuple[str, ...]] = ("progress", "concurrency", "timeout_s", "max_retries", "backoff_s",
                                              "api_key_env", "serve_timeout_s")

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
        if not _VAR_NAME.fullmatch(self.api_key_env) or self.api_key_env.lower().startswith(KEY_PREFIXES):
            # never echo it: a pasted key would land in the terminal, a log, or a CI transcript
            raise ConfigError("backend.api_key_env must name the environment variable that holds the key (e.g. "
                              "OPENAI_API_KEY), not the key itself; the value given is not a variable name (not "
                              "shown). Nothing was written.")
        if self.kind == "openai" and self.api_key_env != "OPENAI_API_KEY" and not os.environ.get(self.api_key_env):
            raise ConfigError(f"backend.api_key_env: the environment variable {self.api_key_env} is not set (for a "
                              "local server that needs no key, leave api_key_env at its default)")
        if self.kind == "hf":
            from ..precision import check_device
            check_device(self.device, "backend.device")
        if self.engine not in ("continuous", "static"):
            raise ConfigError(f"backend.engine must be continuous or static, got {self.engine!r}")
        if self.serve is not None:
            if self.kind != "openai":
                raise ConfigError("backend.serve starts an OpenAI-compatible server: it needs backend.kind=openai")
            if self.base_url:
                raise ConfigError("backend.serve and backend.base_url are both set: the started server's URL is "
                                  "used; remove base_url")
            if not self.serve or not any("{port}" in a for a in self.serve):
                raise ConfigError("backend.serve must be a command list with a {port} placeholder (the free port "
                                  "the server is to bind), e.g. [vllm, serve, '{model}', --port, '{port}']")
            if self.serve_timeout_s <= 0:
                raise ConfigError("backend.serve_timeout_s must be positive")

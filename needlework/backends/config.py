"""BackendConfig: how an evaluated model is reached, one typed record that every backend reads its settings from.

A setting that only one backend reads names it in its metadata (`"backend": "hf"`; `needlework config show backend`
marks it): given for the other kind, it is refused by name rather than silently ignored (config.from_dict)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from ..config import ConfigError
from ..io import to_jsonable

_VAR_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")   # an environment variable's name as shells and CI systems write it
KEY_PREFIXES = ("sk-", "sk_", "hf_", "key-", "gsk_", "xai-")   # how API keys begin, not variable names


@dataclass
class BackendConfig:
    kind: Literal["hf", "openai"] = field(default="hf", metadata={
        "help": "What answers prompts: hf (a local transformers model) | openai (an OpenAI-compatible server or "
                "service)."})
    model: str = field(default="", metadata={
        "help": "hf: a folder or bundled name; openai: the served model name. In an evaluation \"\" means the "
                "model evaluated; a served alias set here wins."})
    chat_template: Literal["auto", "on", "off"] = field(default="auto", metadata={
        "help": "How requests become text: auto (messages templated when possible) | on (prompts too) | off "
                "(nothing)."})
    system_prompt: str | None = field(default=None, metadata={
        "help": "Prepended as a system turn to chat requests lacking one."})
    context_length: int | None = field(default=None, metadata={
        "help": "The model's context in tokens; null: what the model config or server reports."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar."})
    batch_size: int = field(default=8, metadata={"backend": "hf", "help": "Rows decoded together."})
    precision: Literal["auto", "bf16", "fp32"] = field(default="auto", metadata={"backend": "hf",
        "help": "auto | bf16 | fp32; auto: bf16 where the device runs it natively (in a run: the run's)."})
    device: str = field(default="auto", metadata={"backend": "hf",
        "help": "auto | cpu | cuda | cuda:1 ... (general's hf model runs here too; in a run: the run's)."})
    seed: int = field(default=0, metadata={"backend": "hf",
        "help": "Sampling seed; matters only when temperature > 0."})
    max_padding: float = field(default=0.1, metadata={"backend": "hf",
        "help": "Static engine: start a new batch rather than pad more than this fraction."})
    engine: Literal["continuous", "static"] = field(default="continuous", metadata={"backend": "hf",
        "help": "continuous (a finished row leaves, a waiting prompt takes its place; shared prefixes prefilled "
                "once) | static (padded batches; same greedy outputs, slower)."})
    base_url: str | None = field(default=None, metadata={"backend": "openai",
        "help": "The server's URL, e.g. http://127.0.0.1:8000/v1; null: api.openai.com."})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"backend": "openai",
        "help": "Name of the environment variable that holds the key (the key itself is never stored)."})
    concurrency: int = field(default=8, metadata={"backend": "openai", "help": "Requests in flight at once."})
    timeout_s: float = field(default=120.0, metadata={"backend": "openai",
        "help": "Seconds before a request is abandoned (then retried)."})
    max_retries: int = field(default=5, metadata={"backend": "openai", "help": "Retries of a failed request."})
    backoff_s: float = field(default=1.0, metadata={"backend": "openai",
        "help": "First retry delay in seconds; it doubles each retry, at most 30 s."})
    tokenizer: str | None = field(default=None, metadata={"backend": "openai",
        "help": "Local tokenizer (folder or bundled name) for exact token counts; null: counts unknown."})
    serve: list[str] | None = field(default=None, metadata={"backend": "openai",
        "help": "Start this server for each evaluated model and stop it afterwards (vLLM, SGLang, llama.cpp): a "
                "command list with {model}, {alias}, {host} and {port}, e.g. [vllm, serve, \"{model}\", --port, "
                "\"{port}\"]."})
    serve_timeout_s: float = field(default=900.0, metadata={"backend": "openai",
        "help": "Seconds the started server may take to answer /v1/models."})

    RENAMED: ClassVar[dict[str, str]] = {"dtype": "precision (auto | bf16 | fp32)"}   # words the error only
    # A field whose metadata names a backend applies to that kind only: set for the other, it is refused by name.
    KIND_FIELD: ClassVar[str] = "kind"
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

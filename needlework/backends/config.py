"""BackendConfig: how an evaluated model is reached, one typed record that every backend reads its settings from.

The settings every backend reads sit at the top; those only one backend reads sit in the section named after it
(`backend.hf`, `backend.openai`). A section that is not `kind`'s, given away from its defaults, is refused by name
rather than silently ignored (config.from_dict, through KIND_FIELD)."""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from ..config import ConfigError
from ..io import to_jsonable

_VAR_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")   # an environment variable's name as shells and CI systems write it
KEY_PREFIXES = ("sk-", "sk_", "hf_", "key-", "gsk_", "xai-")   # how API keys begin, not variable names


@dataclass
class HFBackendConfig:
    """A local transformers model (backends/hf.py)."""
    batch_size: int = field(default=8, metadata={"help": "Rows decoded together."})
    precision: Literal["auto", "bf16", "fp32"] = field(default="auto", metadata={
        "help": "auto | bf16 | fp32; auto: bf16 where the device runs it natively (in a run: the run's)."})
    device: str = field(default="auto", metadata={
        "help": "auto | cpu | cuda | cuda:1 ... (general's hf model runs here too; in a run: the run's)."})
    seed: int = field(default=0, metadata={"help": "Sampling seed; matters only when temperature > 0."})
    max_padding: float = field(default=0.1, metadata={
        "help": "Static engine: start a new batch rather than pad more than this fraction."})
    engine: Literal["continuous", "static"] = field(default="continuous", metadata={
        "help": "continuous (a finished row leaves, a waiting prompt takes its place; shared prefixes prefilled "
                "once) | static (padded batches; the same greedy outputs up to float summation order; slower on short "
                "answers, and on long ones it can be faster: docs/results.md)."})

    RENAMED: ClassVar[dict[str, str]] = {"dtype": "precision (auto | bf16 | fp32)"}   # words the error only


@dataclass
class OpenAIBackendConfig:
    """An OpenAI-compatible server or service (backends/openai_compat.py), perhaps started by needlework."""
    base_url: str | None = field(default=None, metadata={
        "help": "The server's URL, e.g. http://127.0.0.1:8000/v1; null: api.openai.com."})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={
        "help": "Name of the environment variable that holds the key (the key itself is never stored)."})
    concurrency: int = field(default=8, metadata={"help": "Requests in flight at once."})
    timeout_s: float = field(default=120.0, metadata={"help": "Seconds before a request is abandoned (then retried)."})
    max_retries: int = field(default=5, metadata={"help": "Retries of a failed request."})
    backoff_s: float = field(default=1.0, metadata={
        "help": "First retry delay in seconds; it doubles each retry, at most 30 s."})
    tokenizer: str | None = field(default=None, metadata={
        "help": "Local tokenizer (folder or bundled name) for exact token counts; null: counts unknown."})
    serve: list[str] | None = field(default=None, metadata={
        "help": "Start this server for each evaluated model and stop it afterwards (vLLM, SGLang, llama.cpp): a "
                "command list with {model}, {alias}, {host} and {port}, e.g. [vllm, serve, \"{model}\", --port, "
                "\"{port}\"]."})
    serve_timeout_s: float = field(default=900.0, metadata={
        "help": "Seconds the started server may take to answer /v1/models."})


_SECTIONS = {"hf": HFBackendConfig, "openai": OpenAIBackendConfig}
_SECTION_OF = {f.name: kind for kind, cls in _SECTIONS.items() for f in dataclasses.fields(cls)}   # name -> section


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
    hf: HFBackendConfig = field(default_factory=HFBackendConfig, metadata={
        "help": "Settings of the hf backend (kind: hf): a local transformers model."})
    openai: OpenAIBackendConfig = field(default_factory=OpenAIBackendConfig, metadata={
        "help": "Settings of the openai backend (kind: openai): an OpenAI-compatible server or service."})

    # A section named after a kind applies to that kind only: set for the other, it is refused by name.
    KIND_FIELD: ClassVar[str] = "kind"
    # The flat names of 0.1.0 (`backend.batch_size`), refused naming their section (words the error only).
    RENAMED: ClassVar[dict[str, str]] = {
        "dtype": "hf.precision (auto | bf16 | fp32)",
        **{name: f"{kind}.{name}" for name, kind in _SECTION_OF.items()}}
    # How requests travel and how failures are retried, not what the model answers.
    BOOKKEEPING: ClassVar[tuple[str, ...]] = ("progress", "concurrency", "timeout_s", "max_retries", "backoff_s",
                                              "api_key_env", "serve_timeout_s")

    def identity(self) -> dict:
        """The settings that shape completions: the eval cache and the pipeline's eval keys hash this. Flat (the
        common settings, then hf's, then openai's), as before the sections existed, so the keys stay the same."""
        d = to_jsonable(self)
        flat = {k: v for k, v in d.items() if k not in _SECTIONS}
        for kind in _SECTIONS:
            flat.update(d[kind])
        for k in self.BOOKKEEPING:
            flat.pop(k)
        return flat

    def with_settings(self, **settings) -> "BackendConfig":
        """A copy with `settings` changed, each where it lives (`batch_size` in hf, `base_url` in openai, `model`
        at the top): the flat keywords Python callers hand a backend (HFBackend(model, batch_size=4)). The sections
        are copied too, so the copy shares no mutable part with `self`."""
        top = {k: v for k, v in settings.items() if k not in _SECTION_OF}
        out = dataclasses.replace(self, **top)   # an unknown name is a TypeError, as dataclasses.replace gives
        for kind in _SECTIONS:
            mine = {k: v for k, v in settings.items() if _SECTION_OF.get(k) == kind}
            out = dataclasses.replace(out, **{kind: dataclasses.replace(getattr(out, kind), **mine)})
        return out

    def validate(self) -> None:
        hf, oa = self.hf, self.openai
        if hf.batch_size < 1:
            raise ConfigError(f"backend.hf.batch_size must be at least 1, got {hf.batch_size}")
        if oa.concurrency < 1:
            raise ConfigError(f"backend.openai.concurrency must be at least 1, got {oa.concurrency}")
        if oa.max_retries < 0 or oa.timeout_s <= 0 or oa.backoff_s < 0:
            raise ConfigError("backend.openai.max_retries and backend.openai.backoff_s must be >= 0 and "
                              "backend.openai.timeout_s > 0")
        if not 0 <= hf.max_padding <= 1:
            raise ConfigError(f"backend.hf.max_padding must be between 0 and 1, got {hf.max_padding}")
        if self.context_length is not None and self.context_length < 1:
            raise ConfigError(f"backend.context_length must be positive, got {self.context_length}")
        if not self.model:
            raise ConfigError("backend.model must name a model")
        if not _VAR_NAME.fullmatch(oa.api_key_env) or oa.api_key_env.lower().startswith(KEY_PREFIXES):
            # never echo it: a pasted key would land in the terminal, a log, or a CI transcript
            raise ConfigError("backend.openai.api_key_env must name the environment variable that holds the key "
                              "(e.g. OPENAI_API_KEY), not the key itself; the value given is not a variable name "
                              "(not shown). Nothing was written.")
        if self.kind == "openai" and oa.api_key_env != "OPENAI_API_KEY" and not os.environ.get(oa.api_key_env):
            raise ConfigError(f"backend.openai.api_key_env: the environment variable {oa.api_key_env} is not set "
                              "(for a local server that needs no key, leave api_key_env at its default)")
        if self.kind == "hf":
            from ..precision import check_device
            check_device(hf.device, "backend.hf.device")
        if hf.engine not in ("continuous", "static"):
            raise ConfigError(f"backend.hf.engine must be continuous or static, got {hf.engine!r}")
        if oa.serve is not None:
            if self.kind != "openai":
                raise ConfigError("backend.openai.serve starts an OpenAI-compatible server: it needs "
                                  "backend.kind=openai")
            if oa.base_url:
                raise ConfigError("backend.openai.serve and backend.openai.base_url are both set: the started "
                                  "server's URL is used; remove base_url")
            if not oa.serve or not any("{port}" in a for a in oa.serve):
                raise ConfigError("backend.openai.serve must be a command list with a {port} placeholder (the free "
                                  "port the server is to bind), e.g. [vllm, serve, '{model}', --port, '{port}']")
            if oa.serve_timeout_s <= 0:
                raise ConfigError("backend.openai.serve_timeout_s must be positive")

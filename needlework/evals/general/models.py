"""Which of lm-eval's own model types evaluates a `general` task on needlework's backend, and whether it can.

    backend hf       `needlework-hf` on the local folder (every task): lm-eval's `hf` model whose multiple-choice
                     log-likelihoods encode each shared context once (shared_prefix; same numbers, ~half the
                     tokens); `general.harness_model: hf` keeps lm-eval's own
    backend openai   generative tasks: `local-chat-completions` at base_url (`openai-chat-completions` without
                     one), chat template applied; with backend.chat_template=off, `local-completions` on raw
                     prompts instead. Log-likelihood tasks (multiple choice: MMLU, HellaSwag): `local-completions`
                     with echo+logprobs, which needs a server that returns prompt logprobs (vLLM, llama.cpp) and
                     a local tokenizer (backend.openai.tokenizer, or the model itself when it is a local/bundled one).

`check` runs at plan time, before any model call: it probes the server once for prompt logprobs when a
log-likelihood task is asked of it and names every task the backend cannot run. Base URL, key (the variable
backend.openai.api_key_env names), concurrency, retries and timeout come from needlework's backend config.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...backends import BackendConfig
from ...backends.base import BackendError
from ...config import ConfigError

LOGLIKELIHOOD = frozenset({"loglikelihood", "multiple_choice", "loglikelihood_rolling"})
LOCAL_KINDS = ("needlework-hf", "hf")   # lm-eval model types for backend hf: shared-prefix scoring, lm-eval's own


@dataclass
class HarnessModel:
    kind: str                       # lm-eval model type
    kwargs: dict[str, Any] = field(default_factory=dict)
    chat: bool = False              # apply_chat_template

    def describe(self) -> str:
        return self.kind + (" (chat template)" if self.chat else "")


def _local_tokenizer(b: BackendConfig) -> str | None:
    from ...models import resolve_model_path
    for name in (b.openai.tokenizer, b.model):
        if name and Path(resolve_model_path(name)).exists():
            return str(resolve_model_path(name))
    return None


def _api_kwargs(b: BackendConfig) -> dict[str, Any]:
    oa = b.openai
    kw: dict[str, Any] = {"model": b.model, "num_concurrent": oa.concurrency, "max_retries": max(1, oa.max_retries),
                          "timeout": int(oa.timeout_s)}
    if b.context_length:
        kw["max_length"] = b.context_length
    key = os.environ.get(oa.api_key_env)
    if key:
        kw["header"] = {"Authorization": f"Bearer {key}"}
    return kw


def harness_model(b: BackendConfig, output_type: str, batch_size: int = 1,
                  extra: dict[str, Any] | None = None, kind: str = "needlework-hf", context: Any = None) -> HarnessModel:
    """The lm-eval model type and arguments for one task's output type on backend `b` (`kind`: the local one;
    `context`: the run's precision.RunContext, its device and dtype; None: resolved from `b`)."""
    extra = dict(extra or {})
    if b.kind == "hf":
        from ...models import resolve_model_path
        path = resolve_model_path(b.model)
        if not Path(path).exists():
            raise BackendError(f"general: lm-eval's hf model needs a local model folder; {path!r} does not exist")
        # the run's device and precision, as every other stage's (model_args' dtype still wins)
        if context is None:
            from ...precision import resolve_context
            context = resolve_context(b.hf.precision, b.hf.device)
        device = context.device
        if "dtype" not in extra:
            extra["dtype"] = context.precision.dtype_name   # bfloat16 | float32
        return HarnessModel(kind, {"pretrained": str(path), "device": device, "batch_size": batch_size, **extra})
    url = (b.openai.base_url or "").rstrip("/")
    if output_type in LOGLIKELIHOOD or b.chat_template == "off":
        if not url:
            raise ConfigError("general: log-likelihood tasks and raw prompts need backend.openai.base_url (a server's "
                              "/v1/completions); the OpenAI API has no prompt logprobs for chat models")
        tok = _local_tokenizer(b)
        kw = {**_api_kwargs(b), "base_url": url + "/completions", "tokenized_requests": False, **extra}
        kw.update({"tokenizer_backend": "huggingface", "tokenizer": tok} if tok else {"tokenizer_backend": None})
        return HarnessModel("local-completions", kw)
    kw = {**_api_kwargs(b), **extra}
    if url:
        return HarnessModel("local-chat-completions", {**kw, "base_url": url + "/chat/completions"}, chat=True)
    return HarnessModel("openai-chat-completions", kw, chat=True)


def prompt_logprobs(b: BackendConfig) -> str | None:
    """None when the server returns logprobs for the prompt's tokens (echo), else why not."""
    body = json.dumps({"model": b.model, "prompt": "The sky is blue", "max_tokens": 1, "temperature": 0,
                       "logprobs": 1, "echo": True}).encode()
    headers = {"Content-Type": "application/json", **_api_kwargs(b).get("header", {})}
    req = urllib.request.Request(b.openai.base_url.rstrip("/") + "/completions", data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=min(b.openai.timeout_s, 60)) as r:
            out = json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError) as e:
        return f"the probe request to {b.openai.base_url}/completions failed ({e})"
    lp = ((out.get("choices") or [{}])[0].get("logprobs") or {}).get("token_logprobs") or []
    if len(lp) < 2:
        return "the server returns no logprobs for prompt tokens (echo=true)"
    return None


def check(b: BackendConfig, output_types: dict[str, set[str]]) -> list[str]:
    """Plan-time: the tasks backend `b` cannot run, each with its reason (empty: all can run)."""
    if b.kind == "hf":
        return []
    loglik = [t for t, types in output_types.items() if types & LOGLIKELIHOOD]
    if not loglik:
        return []
    if not b.openai.base_url:
        why = "the OpenAI API returns no prompt logprobs (log-likelihood task)"
    else:
        why = prompt_logprobs(b)
        if why is None and not _local_tokenizer(b):
            why = ("log-likelihood scoring needs a local tokenizer: set backend.openai.tokenizer (folder or bundled "
                   "name)")
    return [f"{t}: {why}" for t in loglik] if why else []


_LMS: dict[str, Any] = {}


def make_lm(m: HarnessModel):
    """One lm-eval model object per (type, arguments), reused by every task of the run (loads the weights once).

    Under a multi-process launch (accelerate / torchrun) lm-eval's `hf` model given a model *name* creates its own
    Accelerator: it joins the launch's process group and later gathers across ranks, while the other ranks of a
    `needlework run` are waiting for this stage's files, so the run hung before it trained. Given an
    already-loaded model it stays in this process (lm-eval's documented single-process path)."""
    key = json.dumps({"kind": m.kind, **m.kwargs}, sort_keys=True, default=str)
    if key not in _LMS:
        from lm_eval.api.registry import get_model

        from ...provenance import world_rank
        from .shared_prefix import register
        register()
        _LMS.clear()   # one model in memory at a time
        kwargs = dict(m.kwargs)
        if m.kind in LOCAL_KINDS and world_rank()[0] > 1:
            kwargs["pretrained"], kwargs["tokenizer"] = _loaded(kwargs)
        _LMS[key] = get_model(m.kind)(**kwargs)
    return _LMS[key]


def _loaded(kwargs: dict[str, Any]):
    """(model on its device in the harness dtype, tokenizer) for lm-eval's hf model."""
    import torch

    from ...models import load_causal_lm, load_tokenizer
    dtype = getattr(torch, str(kwargs.get("dtype", "float32")))
    model = load_causal_lm(kwargs["pretrained"], dtype).to(kwargs.get("device", "cpu")).eval()
    return model, load_tokenizer(kwargs["pretrained"])

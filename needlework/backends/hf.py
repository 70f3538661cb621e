"""Local generation with transformers: batched, greedy, stopping at stop strings.

Two engines (`engine`): `continuous` (default, hf_continuous.py) decodes up to batch_size rows together,
drops each row the step it ends and refills the batch with the next prompt; `static`, the original path,
is described here. Requests are sorted by prompt length so each batch holds prompts of similar length
(little padding, little wasted compute), generated, and put back in the caller's order. Left padding keeps
every prompt's last token at the same position, which is what lets a batch decode in lockstep; the batch
decodes until its longest row ends.
"""
from __future__ import annotations

import contextlib
import sys
from itertools import groupby
from pathlib import Path
from typing import Iterator

from .base import BackendError, Completion, ContextTooLong, Request
from .config import BackendConfig
from .render import Renderer, cut_at_stop


class _StopOnStrings:
    """A StoppingCriteria that marks each row done once its generated text holds a stop string.

    Only the tail of the generated tokens is decoded each step: a stop string that just appeared
    spans at most ~4 tokens per character (byte-level BPE can split one character into bytes)."""

    def __init__(self, tokenizer, stops: list[str], prompt_len: int):
        self.tokenizer, self.stops, self.prompt_len = tokenizer, [s for s in stops if s], prompt_len
        self.tail = 4 * max((len(s) for s in self.stops), default=1) + 4
        self.stopped_at: dict[int, int] = {}  # row -> generated tokens when its stop string appeared

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        gen = input_ids[:, self.prompt_len:]
        tails = self.tokenizer.batch_decode(gen[:, -self.tail:], skip_special_tokens=True)
        hits = [any(s in t for s in self.stops) for t in tails]
        for row, hit in enumerate(hits):
            if hit:
                self.stopped_at.setdefault(row, gen.shape[1])
        return torch.tensor(hits, device=input_ids.device)


class HFBackend:
    name = "hf"

    def __init__(self, model: str | Path | None = None, *, model_obj=None, tokenizer=None,
                 config: BackendConfig | None = None, context=None, **settings):
        """Load `model` (a folder or bundled model name), or wrap an already loaded `model_obj` + `tokenizer`
        (e.g. straight after training, without a save/load round trip). `settings`: BackendConfig settings by
        name (precision, device, batch_size, engine, ...: BackendConfig.with_settings) over `config`'s.
        `context`: the run's precision.RunContext (device, precision, threads), used as it is; None: resolved here
        from precision / device."""
        import torch
        from ..models import ModelNotAvailable, load_causal_lm, load_tokenizer, resolve_model_path
        from ..precision import resolve_context

        cfg = (config or BackendConfig()).with_settings(**settings)
        hf = cfg.hf
        if context is None:   # on its own (a script, a test): resolved once here
            context = resolve_context(hf.precision, hf.device)
        context.apply()
        chosen = context.precision
        self.device, self.dtype = chosen.device, chosen.torch_dtype
        # What ran and why, for results.json provenance (bf16 and fp32 can differ in the last greedy token).
        self.precision = {"dtype": chosen.dtype_name, "reason": chosen.reason}
        if cfg.progress:
            print(f"needlework: evaluating in {chosen.dtype_name} ({chosen.reason})", file=sys.stderr)
        if model_obj is None:
            if model is None:
                raise BackendError("HFBackend needs a model name/path or a loaded model")
            try:
                path = resolve_model_path(str(model))
                tokenizer = tokenizer or load_tokenizer(path)
                model_obj = load_causal_lm(path, self.dtype)
            except (OSError, ValueError, ModelNotAvailable) as e:
                raise BackendError(f"cannot load model {model!r}: {e}") from None
        elif tokenizer is None:
            raise BackendError("a loaded model needs its tokenizer too")
        self.model = model_obj.to(self.device).eval()
        self.tokenizer = tokenizer
        self.renderer = Renderer(tokenizer, cfg.chat_template, cfg.system_prompt)
        self.batch_size = max(1, int(hf.batch_size))
        self.progress, self.seed, self.max_padding = cfg.progress, hf.seed, hf.max_padding
        # A model handed over in fp32 but asked to run in bf16 runs under autocast rather than being copied.
        param_dtype = next(self.model.parameters()).dtype
        self._autocast = self.dtype == torch.bfloat16 and param_dtype != torch.bfloat16
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.eos_ids = self._eos_ids()
        self._context = cfg.context_length or self._config_context()
        engine = hf.engine
        if engine not in ("continuous", "static"):
            raise BackendError(f"engine must be continuous or static, not {engine!r}")
        from .hf_continuous import supports_continuous

        # A model the continuous engine cannot drive exactly (chunked attention, logit soft-capping, ...) keeps
        # the static path; full and sliding-window layers it drives (hf_row_cache.py).
        self.engine = engine if engine == "static" or supports_continuous(self.model) else "static"

    @classmethod
    def from_config(cls, cfg: BackendConfig, context=None) -> "HFBackend":
        return cls(cfg.model, config=cfg, context=context)

    def _eos_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        ids = [] if ids is None else ([ids] if isinstance(ids, int) else list(ids))
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return ids

    def _config_context(self) -> int | None:
        cfg = self.model.config
        cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
        return getattr(cfg, "max_position_embeddings", None)

    # -- the Backend interface -------------------------------------------------------------
    def context_length(self) -> int | None:
        return self._context

    def count_prompt_tokens(self, request: Request) -> int:
        return self.renderer.count(request)

    def render(self, request: Request) -> str:
        """The exact text the model is given for this request (chat template applied or not)."""
        return self.renderer.text(request)

    def loglikelihood(self, pairs: list[tuple[Request, str]]) -> list[float]:
        """Summed log-probability (nats) of each continuation after its rendered prompt (hf_loglikelihood.py)."""
        from .hf_loglikelihood import loglikelihood
        return loglikelihood(self, pairs)

    @property
    def streaming(self) -> bool:
        """Whether generate_stream() returns completions as rows end, so callers gain by sending many requests
        at once (the continuous engine refills its batch from them); the static path works batch by batch."""
        return self.engine == "continuous"

    def generate_stream(self, requests: list[Request]) -> Iterator[tuple[int, Completion]]:
        """(index in `requests`, completion) pairs in the order rows end; ContextTooLong before any work."""
        ids = [self.renderer.token_ids(r) for r in requests]
        self._check_context(requests, ids)
        if self.engine == "static":
            for i, c in enumerate(self._generate_static(requests, ids)):
                yield i, c
            return
        from .hf_continuous import ContinuousEngine

        engine = ContinuousEngine(self)
        self.last_stats = engine.stats   # for benchmarks: what the run computed
        yield from engine.run(requests, ids)

    def generate(self, requests: list[Request]) -> list[Completion]:
        # A streaming caller (the eval runner) shows its own per-prompt progress; generate() shows one here.
        from tqdm.auto import tqdm
        out: list[Completion | None] = [None] * len(requests)
        bar = tqdm(total=len(requests), desc="generate", unit="prompt",
                   disable=not self.progress or len(requests) < 2 or self.engine == "static")
        for i, c in self.generate_stream(requests):
            out[i] = c
            bar.update(1)
        bar.close()
        return out  # type: ignore[return-value]

    def compute_context(self):
        """No autograd, and bf16 autocast when an fp32 model is asked to run in bf16."""
        import torch

        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if self._autocast:
            stack.enter_context(torch.autocast(device_type=self.device.split(":")[0], dtype=torch.bfloat16))
        return stack

    def _generate_static(self, requests: list[Request], ids: list[list[int]]) -> list[Completion]:
        out: list[Completion | None] = [None] * len(requests)
        from tqdm.auto import tqdm

        batches = self.plan(requests, [len(x) for x in ids])
        for batch in tqdm(batches, desc="generate", unit="batch", disable=not self.progress or len(batches) < 2):
            for i, c in zip(batch, self._generate_batch([ids[i] for i in batch], requests[batch[0]])):
                out[i] = c
        return out  # type: ignore[return-value]

    def plan(self, requests: list[Request], lengths: list[int] | None = None) -> list[list[int]]:
        """The batches generate() runs, as lists of request indices: requests with equal generation
        settings, longest first, cut by batch_size and max_padding."""
        if lengths is None:
            lengths = [self.count_prompt_tokens(r) for r in requests]

        def settings(i):
            r = requests[i]
            return (r.max_new_tokens, tuple(r.stop), r.temperature)

        order = sorted(range(len(requests)), key=lambda i: (settings(i), -lengths[i]))
        return [b for _, group in groupby(order, key=settings) for b in self._split(list(group), lengths)]

    # -- internals ---------------------------------------------------------------------------
    def _split(self, group: list[int], lengths: list[int]) -> list[list[int]]:
        """Cut a longest-first run of requests into batches of at most batch_size whose padding stays
        under max_padding of the batch: padded positions cost a full forward each, so with prompts of
        very different lengths a smaller batch is cheaper than a padded one."""
        batches, cur = [], []
        for i in group:
            if cur:
                width = lengths[cur[0]]  # the longest: the group is sorted longest first
                padding = sum(width - lengths[j] for j in cur + [i])
                if len(cur) == self.batch_size or padding > self.max_padding * width * (len(cur) + 1):
                    batches.append(cur)
                    cur = []
            cur.append(i)
        return batches + ([cur] if cur else [])

    def _check_context(self, requests: list[Request], ids: list[list[int]]) -> None:
        if self._context is None:
            return
        bad = [i for i, (r, x) in enumerate(zip(requests, ids)) if len(x) + r.max_new_tokens > self._context]
        if bad:
            i = bad[0]
            raise ContextTooLong(
                f"{len(bad)} of {len(requests)} requests exceed the model's context of {self._context} tokens "
                f"(e.g. request {i}: {len(ids[i])} prompt + {requests[i].max_new_tokens} new tokens); "
                "drop them first with needlework.backends.overflowing() or use a longer-context model", bad)

    def _generate_batch(self, batch_ids: list[list[int]], req: Request) -> list[Completion]:
        import torch
        from transformers import GenerationConfig, StoppingCriteriaList

        width = max(len(x) for x in batch_ids)
        input_ids = torch.full((len(batch_ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch_ids), width), dtype=torch.long)
        for row, x in enumerate(batch_ids):
            input_ids[row, width - len(x):] = torch.tensor(x, dtype=torch.long)
            mask[row, width - len(x):] = 1
        sample = req.temperature > 0
        # A fresh config: the checkpoint's own defaults (top_p, temperature, ...) must not leak in.
        gen_cfg = GenerationConfig(max_new_tokens=req.max_new_tokens, do_sample=sample,
                                   temperature=req.temperature if sample else None, top_p=None, top_k=None,
                                   pad_token_id=self.pad_id, eos_token_id=self.eos_ids)
        stopper = _StopOnStrings(self.tokenizer, req.stop, width)
        stops = StoppingCriteriaList([stopper] if req.stop else [])
        if sample:
            torch.manual_seed(self.seed)  # reproducible sampling, batch by batch
        with self.compute_context():
            out = self.model.generate(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                                      generation_config=gen_cfg, stopping_criteria=stops)
        # Rows that finished early are filled with padding while the others go on: cut them where they stopped.
        return [self._completion(row[width:width + stopper.stopped_at.get(k, out.shape[1])].tolist(), len(x), req)
                for k, (row, x) in enumerate(zip(out.cpu(), batch_ids))]

    def _completion(self, gen: list[int], prompt_tokens: int, req: Request) -> Completion:
        n, finish = len(gen), "length"
        for k, t in enumerate(gen):
            if t in self.eos_ids:
                n, finish = k + 1, "stop"
                break
        else:
            while n and gen[n - 1] == self.pad_id:  # padding after a row's end is not output
                n -= 1
        text = self.tokenizer.decode(gen[:n], skip_special_tokens=True)
        text, hit = cut_at_stop(text, req.stop)
        if hit:
            finish = "stop"
        return Completion(text=text, prompt_tokens=prompt_tokens, completion_tokens=n, finish_reason=finish)

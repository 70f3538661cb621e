"""Fine-tuning through OpenAI's API (the paper's GPT-3.5 runs): validate, upload, create the job, poll, record.

The key is read by the official SDK from OPENAI_API_KEY and nothing here ever formats it into a message or
file. The job id is written to `openai_job.json` as soon as it exists, so an interrupted run polls the same
job on the next call instead of paying for a second one.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..config import ConfigError
from ..io import JSONLError, atomic_open, dumps, read_jsonl_numbered, write_done, write_json
from ..provenance import config_hash, save_provenance
from ..tasks.formats import OPENAI_SYSTEM, RowError, parse_row
from .config import TrainConfig, finished_here

TERMINAL = ("succeeded", "failed", "cancelled")
# OpenAI's chat accounting: each message costs a few framing tokens, and the reply is primed with 3 more.
TOKENS_PER_MESSAGE, TOKENS_REPLY_PRIMING = 4, 3


def count_tokens_fn(spec: str):
    from ..tasks.tokens import load_counting_tokenizer
    try:
        return load_counting_tokenizer(spec).encode
    except ConfigError as e:
        raise ConfigError(f"openai.tokenizer: {e}; offline, point it at a local tokenizer (e.g. a bundled model "
                          "name) to count tokens approximately") from None


def validate_file(paths: list[str], token_limit: int, tokenizer: str) -> tuple[list[dict], dict]:
    """Rows in OpenAI's chat format (meta stripped), plus stats; raise naming file:line on the first bad row."""
    encode = count_tokens_fn(tokenizer)
    rows, counts = [], []
    for path in paths:
        for i, row in read_jsonl_numbered(path):   # real line numbers, blank lines included
            try:
                system, prompt, answer, _meta = parse_row(row)
            except RowError as e:
                raise JSONLError(path, i, str(e)) from None
            messages = [{"role": "system", "content": OPENAI_SYSTEM if system is None else system},
                        {"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
            n = sum(len(encode(m["content"])) + TOKENS_PER_MESSAGE for m in messages) + TOKENS_REPLY_PRIMING
            if n > token_limit:
                raise JSONLError(path, i, f"{n} tokens exceed the model's per-example limit of {token_limit} "
                                          "(openai.token_limit)")
            if not answer.strip():
                raise JSONLError(path, i, "empty assistant message")
            rows.append({"messages": messages})
            counts.append(n)
    if len(rows) < 10:
        raise ConfigError(f"data: OpenAI fine-tuning needs at least 10 examples, got {len(rows)}")
    return rows, {"examples": len(rows), "tokens": sum(counts), "max_tokens": max(counts)}


def _client(base_url: str | None):
    if not os.environ.get("OPENAI_API_KEY"):
        raise ConfigError("backend=openai needs the OPENAI_API_KEY environment variable (never put keys in configs)")
    try:
        from openai import OpenAI
    except ImportError:   # not in the main set-up, which installs only what the cpu-demo needs
        raise ConfigError("backend=openai needs the openai package: pip install 'needlework[eval]' "
                          "(bash scripts/setup.sh --tests installs it)") from None
    return OpenAI(base_url=base_url) if base_url else OpenAI()


def run_openai(cfg: TrainConfig, log=print) -> Path:
    s = cfg.openai
    out = Path(cfg.out)
    digest = config_hash(cfg.identity())
    if finished_here(cfg, digest):
        log(f"needlework train: {out} already holds a finished OpenAI job with this config; skipping")
        return out
    rows, stats = validate_file(cfg.data, s.token_limit, s.tokenizer)
    log(f"needlework train: {stats['examples']} examples, {stats['tokens']:,} tokens (max {stats['max_tokens']})")
    client = _client(s.base_url)
    job_file = out / "openai_job.json"
    job_id = None
    if job_file.exists() and not cfg.overwrite:
        job_id = json.loads(job_file.read_text()).get("job_id")
    if job_id is None:
        upload = out / "openai_upload.jsonl"
        with atomic_open(upload) as f:
            for r in rows:
                f.write(dumps(r) + "\n")
        with open(upload, "rb") as fh:
            uploaded = client.files.create(file=(upload.name, fh), purpose="fine-tune")
        method = {"type": "supervised", "supervised": {"hyperparameters": (
            {"n_epochs": s.n_epochs} if s.n_epochs else {})}}
        job = client.fine_tuning.jobs.create(training_file=uploaded.id, model=s.model, suffix=s.suffix,
                                             seed=cfg.seed, method=method)
        job_id = job.id
        write_json(job_file, {"job_id": job_id, "training_file": uploaded.id, "model": s.model, **stats})
        log(f"needlework train: created fine-tuning job {job_id} on {s.model}")
    job = _poll(client, job_id, s.poll_seconds, s.timeout_seconds, log)
    record = {"job_id": job.id, "status": job.status, "fine_tuned_model": job.fine_tuned_model,
              "model": s.model, "trained_tokens": getattr(job, "trained_tokens", None), **stats}
    write_json(job_file, record)
    if job.status != "succeeded":
        err = getattr(job, "error", None)
        raise RuntimeError(f"OpenAI fine-tuning job {job.id} ended {job.status}: {getattr(err, 'message', err)}")
    save_provenance(out / "provenance.json", cfg, openai_job=record)
    write_done(out, digest, **record)
    log(f"needlework train: fine-tuned model {job.fine_tuned_model}")
    return out


def _poll(client, job_id: str, every: float, timeout: float, log):
    start, last = time.monotonic(), None
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status != last:
            log(f"needlework train: job {job_id}: {job.status}")
            last = job.status
        if job.status in TERMINAL:
            return job
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"job {job_id} still {job.status} after {timeout:.0f} s; re-run to keep polling it")
        time.sleep(every)

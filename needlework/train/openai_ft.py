"""Fine-tuning through OpenAI's API (the paper's GPT-3.5 runs): validate, price, check the base model, upload,
wait for the file to be processed, create the job, poll it (events and metrics printed and saved to
openai_events.jsonl), save its result files, record.

The key is read by the official SDK from OPENAI_API_KEY and nothing here ever formats it into a message or
file. The job id is written to `openai_job.json` as soon as it exists, so an interrupted run polls the same
job on the next call instead of paying for a second one; `submit` alone (the pipeline calls it for every arm
before waiting on any) lets several jobs train at once. Every API failure is one error line (BackendError).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..backends.base import BackendError
from ..config import ConfigError
from ..io import JSONLError, append_jsonl, atomic_open, dumps, read_jsonl_numbered, write_done, write_json
from ..provenance import config_hash, save_provenance
from ..tasks.files.formats import OPENAI_SYSTEM, RowError, parse_row
from .config import TrainConfig, finished_here

TERMINAL = ("succeeded", "failed", "cancelled")
# OpenAI's chat accounting: each message costs a few framing tokens, and the reply is primed with 3 more.
TOKENS_PER_MESSAGE, TOKENS_REPLY_PRIMING = 4, 3


def count_tokens_fn(spec: str):
    from ..tasks.tokenization.tokens import load_counting_tokenizer
    try:
        return load_counting_tokenizer(spec).encode
    except ConfigError as e:
        raise ConfigError(f"openai.tokenizer: {e}; offline, point it at a local tokenizer (e.g. a bundled model "
                          "name) to count tokens approximately") from None


def openai_examples(paths: list[str], token_limit: int, tokenizer: str) -> tuple[list[dict], dict]:
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


# Published fine-tuning training prices, USD per 1M trained tokens (trained tokens = file tokens x epochs), read
# from openai.com/api/pricing on PRICES_READ; check the page before spending, prices change.
PRICES_READ = "2025-04"
TRAINING_USD_PER_M = {"gpt-3.5-turbo": 8.0, "gpt-4o-mini": 3.0, "gpt-4o": 25.0, "gpt-4.1-nano": 1.5,
                      "gpt-4.1-mini": 5.0, "gpt-4.1": 25.0}
DEFAULT_EPOCHS = 3          # what the service's "auto" chose for files of this size when we last looked


def cost_estimate(model: str, tokens: int, n_epochs: int | None) -> str:
    """'~$1.23 (12,345 tokens x 2 epochs at $8.00/1M, prices read 2025-04)', or why there is no estimate."""
    family = max((f for f in TRAINING_USD_PER_M if model.startswith(f)), key=len, default=None)
    epochs = n_epochs or DEFAULT_EPOCHS
    if family is None:
        return f"no price known for {model} (table read {PRICES_READ}); {tokens * epochs:,} trained tokens"
    usd = tokens * epochs * TRAINING_USD_PER_M[family] / 1e6
    return (f"~${usd:,.2f} ({tokens:,} tokens x {epochs} epochs{'' if n_epochs else ' (service default, assumed)'} "
            f"at ${TRAINING_USD_PER_M[family]:.2f}/1M, prices read {PRICES_READ})")


def _client(base_url: str | None):
    if not os.environ.get("OPENAI_API_KEY"):
        raise ConfigError("backend=openai needs the OPENAI_API_KEY environment variable (never put keys in configs)")
    try:
        from openai import OpenAI
    except ImportError:   # not in the main set-up, which installs only what the cpu-demo needs
        raise ConfigError("backend=openai needs the openai package: pip install 'needlework[eval]' "
                          "(bash scripts/setup.sh --tests installs it)") from None
    return OpenAI(base_url=base_url, max_retries=3) if base_url else OpenAI(max_retries=3)


def _api(what: str, fn, *args, **kwargs):
    """One SDK call; its failure (after the SDK's own retries) is one error line naming what was being done."""
    import openai
    try:
        return fn(*args, **kwargs)
    except openai.NotFoundError as e:
        raise BackendError(f"OpenAI {what}: not found ({_message(e)})") from None
    except openai.APIStatusError as e:
        raise BackendError(f"OpenAI {what} failed: HTTP {e.status_code}: {_message(e)}") from None
    except openai.APIError as e:   # connection errors, timeouts, malformed replies
        raise BackendError(f"OpenAI {what} failed: {type(e).__name__}: {_message(e)}") from None


def _message(e) -> str:
    body = getattr(e, "body", None)
    msg = body.get("message") if isinstance(body, dict) else None
    return str(msg or getattr(e, "message", None) or e)[:300]


def submit(cfg: TrainConfig, log=print) -> str:
    """Validate, check the base model, upload, wait for the file to be processed and create the job; returns
    the job id (an existing openai_job.json is reused, so calling this twice never pays twice)."""
    s, out = cfg.openai, Path(cfg.out)
    job_file = out / "openai_job.json"
    if job_file.exists() and not cfg.overwrite:
        return json.loads(job_file.read_text())["job_id"]
    rows, stats = openai_examples(cfg.data, s.token_limit, s.tokenizer)
    log(f"needlework train: {stats['examples']} examples, {stats['tokens']:,} tokens (max {stats['max_tokens']}); "
        f"cost {cost_estimate(s.model, stats['tokens'], s.n_epochs)}")
    client = _client(s.base_url)
    try:
        _api(f"base model {s.model}", client.models.retrieve, s.model)
    except BackendError as e:
        raise ConfigError(f"openai.model: {e}; the model is gone or not available to this key (no upload made)") \
            from None
    upload = out / "openai_upload.jsonl"
    with atomic_open(upload) as f:
        for r in rows:
            f.write(dumps(r) + "\n")
    with open(upload, "rb") as fh:
        uploaded = _api("file upload", client.files.create, file=(upload.name, fh), purpose="fine-tune")
    _wait_processed(client, uploaded.id, s.poll_seconds, s.timeout_seconds, log)
    method = {"type": "supervised", "supervised": {"hyperparameters": ({"n_epochs": s.n_epochs} if s.n_epochs
                                                                        else {})}}
    job = _api("job creation", client.fine_tuning.jobs.create, training_file=uploaded.id, model=s.model,
               suffix=s.suffix, seed=cfg.seed, method=method)
    write_json(job_file, {"job_id": job.id, "training_file": uploaded.id, "model": s.model, **stats})
    log(f"needlework train: created fine-tuning job {job.id} on {s.model}")
    return job.id


def _wait_processed(client, file_id: str, every: float, timeout: float, log) -> None:
    """A job created on a file still being processed is refused by the service: wait until it is processed."""
    start = time.monotonic()
    while True:
        f = _api(f"file {file_id}", client.files.retrieve, file_id)
        if getattr(f, "status", "processed") == "processed":
            return
        if f.status == "error":
            raise BackendError(f"OpenAI rejected the training file {file_id}: {getattr(f, 'status_details', '')}")
        if time.monotonic() - start > timeout:
            raise BackendError(f"file {file_id} still {f.status} after {timeout:.0f} s")
        log(f"needlework train: file {file_id}: {f.status}")
        time.sleep(every)


def run_openai(cfg: TrainConfig, log=print) -> Path:
    s = cfg.openai
    out = Path(cfg.out)
    digest = config_hash(cfg.identity())
    if finished_here(cfg, digest):
        log(f"needlework train: {out} already holds a finished OpenAI job with this config; skipping")
        return out
    job_id = submit(cfg, log)
    client = _client(s.base_url)
    job = _poll(client, job_id, s.poll_seconds, s.timeout_seconds, out / "openai_events.jsonl", log)
    stats = json.loads((out / "openai_job.json").read_text())
    record = {**stats, "job_id": job.id, "status": job.status, "fine_tuned_model": job.fine_tuned_model,
              "trained_tokens": getattr(job, "trained_tokens", None),
              "result_files": _save_results(client, job, out)}
    write_json(out / "openai_job.json", record)
    if job.status != "succeeded":
        err = getattr(job, "error", None)
        raise BackendError(f"OpenAI fine-tuning job {job.id} ended {job.status}: {getattr(err, 'message', err)}")
    save_provenance(out / "provenance.json", cfg, openai_job=record)
    write_done(out, digest, **record)
    log(f"needlework train: fine-tuned model {job.fine_tuned_model}")
    return out


def _save_results(client, job, out: Path) -> list[str]:
    """The job's result files (its per-step metrics CSV) saved beside the record."""
    saved = []
    for fid in getattr(job, "result_files", None) or []:
        content = _api(f"result file {fid}", client.files.content, fid)
        path = out / f"openai_result_{fid}.csv"
        with atomic_open(path, "wb") as f:
            f.write(content.read() if hasattr(content, "read") else bytes(content))
        saved.append(path.name)
    return saved


def _poll(client, job_id: str, every: float, timeout: float, events_path: Path, log):
    """Poll until the job ends, printing and saving each new event (status changes, metrics) as it appears."""
    start, last, seen = time.monotonic(), None, _seen_events(events_path)
    while True:
        job = _api(f"job {job_id}", client.fine_tuning.jobs.retrieve, job_id)
        events = _api(f"events of {job_id}", client.fine_tuning.jobs.list_events, job_id, limit=100)
        for ev in reversed(list(getattr(events, "data", []) or [])):   # the API lists newest first
            if ev.id in seen:
                continue
            seen.add(ev.id)
            row = {"id": ev.id, "created_at": ev.created_at, "level": getattr(ev, "level", None),
                   "message": ev.message, "type": getattr(ev, "type", None), "data": getattr(ev, "data", None)}
            append_jsonl(events_path, row)
            log(f"needlework train: job {job_id}: {ev.message}")
        if job.status != last:
            log(f"needlework train: job {job_id}: {job.status}")
            last = job.status
        if job.status in TERMINAL:
            return job
        if time.monotonic() - start > timeout:
            raise BackendError(f"job {job_id} still {job.status} after {timeout:.0f} s; re-run to keep polling it "
                               "(the job id is kept in openai_job.json)")
        time.sleep(every)


def _seen_events(path: Path) -> set[str]:
    from ..io import read_jsonl
    return {r["id"] for r in read_jsonl(path, skip_truncated_tail=True)} if path.exists() else set()

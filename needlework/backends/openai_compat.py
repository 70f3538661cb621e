"""Any OpenAI-compatible server (OpenAI, vLLM, SGLang, llama.cpp, TGI) through the official SDK.

Chat messages go to /chat/completions, raw prompts to /completions (the server applies its own
chat template to messages). Requests run on a bounded thread pool; 429, 5xx, timeouts and dropped
connections are retried with exponential backoff (honouring Retry-After), anything else fails at
once with a message naming the server. The API key is read from an environment variable and never
logged; local servers accept any key, so a placeholder is used when the variable is unset.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import random
import socket
import threading
import time
import urllib.error
import urllib.request

from .base import BackendError, Completion, ContextTooLong, Request
from .config import BackendConfig
from .render import Renderer, cut_at_stop

log = logging.getLogger(__name__)
MAX_STOP = 4  # the OpenAI API accepts at most 4 stop strings; the rest are applied locally
_CONTEXT_WORDS = ("context length", "context window", "maximum context", "too many tokens", "exceed")


class BadReply(Exception):
    """A 200 reply that is not an answer (retried like a server error, never cached as an empty completion)."""


def _field(obj, name: str):
    """An attribute of an SDK object, or a key of a dict the SDK left unparsed (a reply of an unexpected shape)."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def answer_of(resp, chat: bool) -> tuple[str, str | None]:
    """(text, finish_reason) of a reply, checked: `choices` a non-empty list, the choice's `message` an object
    (chat), the content a string, and not empty when the model was cut off (finish_reason length, or none
    given). An empty answer that ended on a stop is kept: a stop string can end an answer before its first
    character. Anything else raises BadReply, which is retried and never cached."""
    choices = _field(resp, "choices")
    if not isinstance(choices, list) or not choices:
        raise BadReply("a reply whose choices is " + ("an empty list" if isinstance(choices, list) else "missing"
                       if choices is None else f"of type {type(choices).__name__}") + ", not a non-empty list")
    c = choices[0]
    if chat:
        message = _field(c, "message")
        if message is None or isinstance(message, (str, int, float, list, bool)):
            raise BadReply(f"a reply whose message is {'null' if message is None else type(message).__name__}, "
                           "not an object")
        text = _field(message, "content")
    else:
        text = _field(c, "text")
    if text is None:
        raise BadReply("a reply whose content is null")
    if not isinstance(text, str):
        raise BadReply(f"a reply whose content is not a string but of type {type(text).__name__}")
    finish = _field(c, "finish_reason")
    if text == "" and finish in (None, "length"):
        raise BadReply(f"an empty answer with finish_reason {finish or 'missing'} (the server produced no text"
                       + (" before reaching max_tokens)" if finish == "length" else ")"))
    return text, finish


class OpenAIBackend:
    name = "openai"

    def __init__(self, model: str, *, config: BackendConfig | None = None, backoff_max_s: float = 30.0,
                 **settings):
        """`settings`: BackendConfig settings by name (base_url, api_key_env, concurrency, ...:
        BackendConfig.with_settings) over `config`'s."""
        cfg = (config or BackendConfig(kind="openai")).with_settings(model=model, **settings)
        oa = cfg.openai
        base_url, api_key_env, chat_template, system_prompt = (oa.base_url, oa.api_key_env, cfg.chat_template,
                                                                cfg.system_prompt)
        concurrency, timeout_s, max_retries, backoff_s = oa.concurrency, oa.timeout_s, oa.max_retries, oa.backoff_s
        context_length, tokenizer, progress = cfg.context_length, oa.tokenizer, cfg.progress
        try:
            import openai
        except ImportError:   # not in the main set-up, which installs only what the cpu-demo needs
            raise BackendError("the openai backend needs the openai package: pip install 'needlework[eval]' "
                               "(bash scripts/setup.sh --tests installs it)") from None

        key = os.environ.get(api_key_env)
        if not key:
            if base_url is None:  # the real OpenAI API: a key is required, say which variable holds it
                raise BackendError(f"no API key: set the environment variable {api_key_env}")
            key = "EMPTY"  # local servers (vLLM, llama.cpp) ignore the key but the SDK wants one
        self.model, self.base_url = model, (base_url or "https://api.openai.com/v1").rstrip("/")
        self.mode, self.system_prompt = chat_template, system_prompt
        self.concurrency, self.max_retries = max(1, concurrency), max(0, max_retries)
        self.backoff_s, self.backoff_max_s, self.timeout_s = backoff_s, backoff_max_s, timeout_s
        self.progress = progress
        # SDK retries are off: ours are bounded, logged and end in an error that names the server.
        self.client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=timeout_s, max_retries=0)
        self._key, self.api_key_env = key, api_key_env
        self._context = context_length
        self._renderer = Renderer(_local_tokenizer(tokenizer), chat_template, system_prompt) if tokenizer else None
        self._probed = False
        self._lock = threading.Lock()
        self.served_models: set[str] = set()   # the model names the server's replies carried

    @classmethod
    def from_config(cls, cfg: BackendConfig) -> "OpenAIBackend":
        return cls(cfg.model, config=cfg)

    # -- the Backend interface -------------------------------------------------------------
    def context_length(self) -> int | None:
        self._probe()
        return self._context

    def count_prompt_tokens(self, request: Request) -> int | None:
        """Exact only with a local copy of the model's tokenizer (`tokenizer=`); otherwise unknown."""
        return self._renderer.count(request) if self._renderer else None

    def generate(self, requests: list[Request]) -> list[Completion]:
        self._probe()
        if not requests:
            return []
        from tqdm.auto import tqdm

        # Requests run on daemon threads that the main thread waits on in short slices: Ctrl-C reaches it at
        # once, and a request still in flight is abandoned instead of being waited for (an executor's threads
        # are joined on the way out, which held Ctrl-C for as long as the server took, retries included).
        n = len(requests)
        todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(n):
            todo.put(i)
        finished: queue.SimpleQueue = queue.SimpleQueue()
        stop = threading.Event()

        def worker() -> None:
            while not stop.is_set():
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    finished.put((i, self._one(requests[i], i), None))
                except BaseException as e:   # noqa: BLE001 -- handed to the main thread, raised there
                    finished.put((i, None, e))

        out: list[Completion | None] = [None] * n
        errors: dict[int, BaseException] = {}
        got = 0
        for k in range(min(self.concurrency, n)):
            threading.Thread(target=worker, daemon=True, name=f"needlework-request-{k}").start()
        with tqdm(total=n, desc="generate", unit="req", disable=not self.progress or n < 2) as bar:
            try:
                while got < n:
                    try:
                        i, completion, err = finished.get(timeout=0.1)
                    except queue.Empty:
                        continue
                    got += 1
                    if err is not None:
                        errors[i] = err
                        stop.set()   # no new requests; the first failure in request order is raised below
                    else:
                        out[i] = completion
                        bar.update(1)
                    first = min(errors, default=None)
                    if first is not None and all(out[j] is not None or j in errors for j in range(first)):
                        raise errors[first]
            finally:
                stop.set()
        return out  # type: ignore[return-value]

    # -- one request -------------------------------------------------------------------------
    def _messages(self, request: Request) -> list[dict] | None:
        if self.mode == "off":
            return None  # plain text for every request, joined by the renderer rules below
        if request.messages is None and self.mode != "on":
            return None
        msgs = list(request.messages) if request.messages is not None else [{"role": "user", "content": request.prompt}]
        if self.system_prompt and not any(m.get("role") == "system" for m in msgs):
            msgs = [{"role": "system", "content": self.system_prompt}] + msgs
        return msgs

    def _one(self, request: Request, index: int) -> Completion:
        common = dict(model=self.model, max_tokens=request.max_new_tokens, temperature=request.temperature)
        if request.stop:
            common["stop"] = list(request.stop[:MAX_STOP])
        msgs = self._messages(request)
        if msgs is not None:
            def ask():
                r = self.client.chat.completions.create(messages=msgs, **common)
                return r, answer_of(r, chat=True)
        else:
            prompt = request.prompt if request.messages is None else \
                "\n\n".join(m["content"] for m in request.messages)

            def ask():
                r = self.client.completions.create(prompt=prompt, **common)
                return r, answer_of(r, chat=False)
        resp, (text, finish) = self._call(ask, index)
        text, hit = cut_at_stop(text, request.stop)
        usage = _field(resp, "usage")
        served = _field(resp, "model")
        self._note_served(served if isinstance(served, str) else None)
        return Completion(text=text, prompt_tokens=_int_or_none(_field(usage, "prompt_tokens")),
                          completion_tokens=_int_or_none(_field(usage, "completion_tokens")),
                          finish_reason="stop" if hit else finish, model=served if isinstance(served, str) else None)

    def _note_served(self, served: str | None) -> None:
        """Record the model name a reply carried; warn once per name that is not the one asked for (a server
        behind a router, or the wrong server on that port, answers for another model)."""
        if not served or served in self.served_models:
            return
        with self._lock:
            self.served_models.add(served)
        if not (served.startswith(self.model) or self.model.startswith(served)
                or os.path.basename(served) == os.path.basename(self.model)):
            import sys
            print(f"WARNING {self.base_url} answered as model {served!r}, not the {self.model!r} asked for; its "
                  "answers are recorded with that name (served_model in cache.jsonl, served_models in results.json)",
                  file=sys.stderr, flush=True)

    def _call(self, fn, index: int):
        """fn() with retries on rate limits, server errors, lost connections and malformed replies (no choices,
        null content, a body that is not JSON): a reply that is not an answer is never returned, so never cached."""
        import openai

        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            try:
                return fn()
            except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError, BadReply,
                    openai.APIResponseValidationError, json.JSONDecodeError) as e:
                last = e
                if attempt == self.max_retries:
                    break
                delay = self._delay(attempt, e)
                log.warning("%s from %s; retry %d/%d in %.1fs", _describe(e), self.base_url,
                            attempt + 1, self.max_retries, delay)
                time.sleep(delay)
            except openai.APIStatusError as e:
                raise self._status_error(e, index) from None
        if isinstance(last, openai.APITimeoutError):
            raise BackendError(f"the server at {self.base_url} did not answer within {self.timeout_s:g} s "
                               f"(backend.openai.timeout_s) in {self.max_retries + 1} attempts; it is running but "
                               "slow or stuck: raise backend.openai.timeout_s or check the server") from None
        if isinstance(last, openai.APIConnectionError):
            raise BackendError(f"cannot reach the server at {self.base_url} ({_describe(last)}) after "
                               f"{self.max_retries + 1} attempts; is it running and is base_url right?") from None
        raise BackendError(f"{self.base_url} kept failing ({_describe(last)}) after "
                           f"{self.max_retries + 1} attempts; nothing of it was cached") from None

    def _delay(self, attempt: int, err: Exception) -> float:
        response = getattr(err, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        try:
            wait = float(retry_after) if retry_after is not None else self.backoff_s * 2 ** attempt
        except ValueError:
            wait = self.backoff_s * 2 ** attempt
        # A little jitter so that many threads hitting one limit do not retry in lockstep.
        return min(self.backoff_max_s, wait) * (1 + 0.1 * random.random())

    def _status_error(self, e, index: int) -> BackendError:
        msg = _describe(e)
        if e.status_code == 401 or e.status_code == 403:
            return BackendError(f"{self.base_url} refused the API key (from ${self.api_key_env}): {msg}")
        if e.status_code == 404:
            return BackendError(f"{self.base_url}: model {self.model!r} or endpoint not found: {msg}")
        if e.status_code in (400, 413, 422) and any(w in msg.lower() for w in _CONTEXT_WORDS):
            return ContextTooLong(f"request {index} does not fit the context of {self.model!r} at "
                                  f"{self.base_url}: {msg}", [index])
        return BackendError(f"{self.base_url} rejected request {index}: {msg}")

    # -- what the server says about itself ---------------------------------------------------
    def _probe(self) -> None:
        """Once: check the server answers, warn if it does not list our model, learn its context length."""
        with self._lock:
            if self._probed:
                return
            models = self._get_json("/models", required=True)
            entries = models.get("data", []) if isinstance(models, dict) else []
            ids = [m.get("id") for m in entries if isinstance(m, dict)]
            if ids and self.model not in ids:
                log.warning("%s does not list model %r (it lists %s)", self.base_url, self.model, ", ".join(map(str, ids[:5])))
            if self._context is None:
                self._context = _context_from_models(entries, self.model) or self._context_from_props()
            self._probed = True

    def _context_from_props(self) -> int | None:
        root = self.base_url[:-3] if self.base_url.endswith("/v1") else self.base_url
        props = self._get_json("/props", root=root)
        settings = props.get("default_generation_settings", {}) if isinstance(props, dict) else {}
        n = settings.get("n_ctx") if isinstance(settings, dict) else None
        return n if isinstance(n, int) and n > 0 else None

    def _get_json(self, path: str, root: str | None = None, required: bool = False):
        url = (root or self.base_url) + path
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {self._key}"})
        try:
            with urllib.request.urlopen(req, timeout=min(self.timeout_s, 30)) as r:
                return json.loads(r.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            if required and e.code in (401, 403):
                raise BackendError(f"{self.base_url} refused the API key from ${self.api_key_env} "
                                   f"({e.code} {e.reason})") from None
            return None  # an optional endpoint this server does not have
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            reason = getattr(e, "reason", e)
            if required and isinstance(reason, (TimeoutError, socket.timeout)):
                raise BackendError(f"the server at {self.base_url} accepted the connection but did not answer "
                                   f"{path} within {min(self.timeout_s, 30):g} s; it may still be loading the model "
                                   "or be stuck") from None
            if required:
                raise BackendError(f"cannot reach the server at {self.base_url} ({reason}); "
                                   "is it running and is base_url right?") from None
            return None
        except ValueError:
            return None


def _int_or_none(v):
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _context_from_models(entries: list, model: str) -> int | None:
    """vLLM says max_model_len; llama.cpp puts n_ctx / n_ctx_train under meta; others say context_length."""
    chosen = [m for m in entries if isinstance(m, dict) and m.get("id") == model] or \
             (entries if len(entries) == 1 else [])
    for m in chosen:
        meta = m.get("meta") if isinstance(m.get("meta"), dict) else {}
        for v in (m.get("max_model_len"), meta.get("n_ctx"), m.get("context_length"), meta.get("n_ctx_train")):
            if isinstance(v, int) and v > 0:
                return v
    return None


def _describe(e: Exception) -> str:
    status = getattr(e, "status_code", None)
    body = getattr(e, "body", None)
    body = body.get("message") if isinstance(body, dict) else None  # the server's own words, without SDK prefix
    body = body or getattr(e, "message", None) or str(e) or type(e).__name__
    return f"HTTP {status}: {body}" if status else f"{type(e).__name__}: {body}"


def _local_tokenizer(name_or_path: str):
    """The model's tokenizer on this machine, for exact prompt-token counts (a folder or a bundled name)."""
    from ..models import ModelNotAvailable, load_tokenizer
    try:
        return load_tokenizer(name_or_path)
    except (OSError, ValueError, ModelNotAvailable) as e:
        raise BackendError(f"cannot load a tokenizer from {name_or_path!r}: {e}") from None

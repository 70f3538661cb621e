"""`general`: MMLU, HellaSwag, GSM8K (5-shot), TriviaQA, NQ-Open (0-shot) through lm-evaluation-harness.

The harness drives the model itself (its built-in `hf` model type, `pretrained=<local folder>`), so this
benchmark bypasses the runner's request cache; instead each task's result is saved as it finishes
(`<run>/general/<task>.json`) and a re-run skips finished tasks, and the harness's own sqlite request
cache (`use_cache`) keeps a crashed task's finished requests.

Offline use: the harness's stock task YAMLs download datasets from the Hugging Face hub, which is off
here. Point `general.include_path` at a folder of task YAMLs whose datasets are local files, e.g.

    task: nq_open_local
    dataset_path: json
    dataset_kwargs: {data_files: {validation: /data/nq_open/validation.jsonl}}
    validation_split: validation
    # ...then the prompt, target and metric keys copied from the harness's own nq_open.yaml

and list those task names in `general.tasks` (`general.include_defaults=false` skips indexing the stock
tasks). A pre-populated HF datasets cache (HF_HOME) also works with the stock task names.
Few-shot counts follow the paper (A.2): GSM8K 5, everything else 0.

A model behind the `openai` backend (the GPT-3.5 rows of Table 1) runs through the harness's chat-completions
model (`openai-chat-completions`, or `local-chat-completions` at the backend's base_url) with the chat
template applied. Chat APIs return no log-likelihoods, so only generative tasks can run there: `gsm8k`, and
`mmlu_generative` for MMLU (the paper used Chain-of-Thought Hub's generative MMLU for GPT-3.5, on 20% of the
data: `limits: {mmlu_generative: 0.2}`). The key is read by the harness from $OPENAI_API_KEY.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..backends.base import BackendError
from ..config import ConfigError
from ..io import write_json
from .metrics import wilson
from .base import Benchmark

PAPER_TASKS = ["mmlu", "hellaswag", "gsm8k", "triviaqa", "nq_open"]
PRIMARY = ("acc,none", "exact_match,strict-match", "exact_match,remove_whitespace", "exact_match,none",
           "exact_match,flexible-extract", "acc_norm,none")


@dataclass
class GeneralSettings:
    tasks: list[str] = field(default_factory=lambda: list(PAPER_TASKS))
    num_fewshot: dict[str, int] = field(default_factory=lambda: {"gsm8k": 5})   # tasks not listed: 0-shot
    include_path: str | None = None        # folder of local task YAMLs (offline copies of the datasets)
    include_defaults: bool = True          # also index the harness's stock tasks (slow: thousands of YAMLs)
    limit: int | None = None               # examples per task (smoke runs)
    limits: dict[str, float] = field(default_factory=dict)   # per task: a count, or a fraction < 1 of its data
    batch_size: int = 1
    device: str = "cpu"
    model_args: str = ""                   # extra harness model args, e.g. "dtype=float32"


def _primary(metrics: dict[str, Any]) -> str | None:
    for m in PRIMARY:
        if isinstance(metrics.get(m), (int, float)):
            return m
    for m, v in metrics.items():
        if isinstance(v, (int, float)) and "stderr" not in m and m != "alias":
            return m
    return None


def _n_samples(res: dict, task: str) -> int:
    ns = res.get("n-samples", {})
    if task in ns:
        return int(ns[task].get("effective", ns[task].get("original", 0)))
    subs = res.get("group_subtasks", {}).get(task, [])
    return sum(_n_samples(res, s) for s in subs)


_TASK_MANAGERS: dict = {}


def _task_manager(include_path: str | None, include_defaults: bool):
    """Indexing the harness's task folders takes seconds; do it once per (include_path, defaults)."""
    from lm_eval.tasks import TaskManager
    key = (include_path, include_defaults)
    if key not in _TASK_MANAGERS:
        if not include_defaults and not include_path:
            raise ConfigError("general.include_defaults=false needs general.include_path")
        _TASK_MANAGERS[key] = TaskManager(include_path=include_path, include_defaults=include_defaults)
    return _TASK_MANAGERS[key]


def harness_model(model: str, backend: dict[str, Any], s: GeneralSettings) -> tuple[str, str, bool]:
    """(harness model type, model_args, apply_chat_template) for the evaluated model and its backend."""
    if backend.get("kind", "hf") != "openai":
        from ..models import resolve_model_path
        path = resolve_model_path(model)
        if not Path(path).exists():
            raise BackendError(f"general: lm-eval's hf model needs a local model folder; {path!r} does not exist")
        return "hf", f"pretrained={path}" + (f",{s.model_args}" if s.model_args else ""), False
    name = backend.get("model") or model
    args = f"model={name},num_concurrent={int(backend.get('concurrency', 8))}"
    url = backend.get("base_url")
    if url:
        args += f",base_url={url.rstrip('/')}/chat/completions"
    return ("local-chat-completions" if url else "openai-chat-completions",
            args + (f",{s.model_args}" if s.model_args else ""), True)


def evaluate_task(task: str, s: GeneralSettings, model: str, cache_db: Path,
                  backend: dict[str, Any] | None = None) -> dict:
    """One harness task -> {metrics (as the harness reports them), primary, n}."""
    try:
        import lm_eval
    except ImportError as e:
        raise ConfigError(f"general: lm-evaluation-harness is not installed ({e}); pip install 'needlework[eval]'")
    kind, args, chat = harness_model(model, backend or {}, s)
    if chat:
        from importlib.util import find_spec
        missing = [m for m in ("aiohttp", "tenacity", "requests") if find_spec(m) is None]
        if missing:
            raise ConfigError(f"general through the openai backend uses lm-eval's API models, which need "
                              f"{', '.join(missing)}: pip install 'lm-eval[api]'")
    tm = _task_manager(s.include_path, s.include_defaults)
    if task not in tm.all_tasks:
        raise ConfigError(f"general: lm-eval knows no task {task!r}"
                          + (f" (include_path={s.include_path})" if s.include_path else ""))
    limit = s.limits.get(task, s.limit)
    try:
        res = lm_eval.simple_evaluate(model=kind, model_args=args, tasks=[task], num_fewshot=s.num_fewshot.get(task, 0),
                                      batch_size=s.batch_size, device=s.device, limit=limit, task_manager=tm,
                                      use_cache=str(cache_db), log_samples=False, random_seed=0,
                                      apply_chat_template=chat,
                                      numpy_random_seed=1234, torch_random_seed=1234, fewshot_random_seed=1234)
    except (ConnectionError, OSError) as e:
        raise ConfigError(f"general: task {task!r} could not load its data or model offline ({e}); give it local "
                          "files through general.include_path (see needlework/evals/general.py)") from None
    metrics = {k: v for k, v in res["results"].get(task, {}).items() if isinstance(v, (int, float, str))}
    return {"metrics": metrics, "primary": _primary(metrics), "n": _n_samples(res, task),
            "num_fewshot": s.num_fewshot.get(task, 0)}


def run_general(s: GeneralSettings, cfg: Any, out: Path) -> dict:
    """Every task in turn, each saved as it finishes; shaped like the other benchmarks' results."""
    out.mkdir(parents=True, exist_ok=True)
    buckets = []
    for task in s.tasks:
        done = out / f"{task}.json"
        if done.exists():
            r = json.loads(done.read_text())
        else:
            r = evaluate_task(task, s, cfg.model, out / "lm_eval_cache", dict(vars(cfg.backend)))
            write_json(done, r)
        v, n = r["metrics"].get(r["primary"]), r["n"]
        lo, hi = wilson(v * n, n) if (v is not None and n) else (0.0, 1.0)
        buckets.append({"label": f"task={task}", "axes": {"task": task}, "n": n, "n_over_context": 0,
                        "metrics": {"score": {"accuracy": v, "correct": (v * n if v is not None else None), "n": n,
                                              "ci95": [round(lo, 6), round(hi, 6)], "harness_metric": r["primary"]}},
                        "harness": r})
    return {"primary_metric": "score", "buckets": buckets, "by_axis": {"task": [
            {"value": b["axes"]["task"], **{k: b[k] for k in ("n", "n_over_context", "metrics")}} for b in buckets]},
            "overall": _overall(buckets),
            "describe": {"data_source": "lm-evaluation-harness tasks" + (f" from {s.include_path}" if s.include_path
                                                                          else " (stock definitions)"),
                         "num_fewshot": {t: s.num_fewshot.get(t, 0) for t in s.tasks}}}


def _overall(buckets: list[dict]) -> dict:
    accs = [b["metrics"]["score"]["accuracy"] for b in buckets if b["metrics"]["score"]["accuracy"] is not None]
    return {"n": sum(b["n"] for b in buckets), "n_over_context": 0,
            "metrics": {"score": {"mean_over_buckets": round(sum(accs) / len(accs), 6) if accs else None}}}


BENCHMARK = Benchmark(name="general", section="general", build=None, score=None, metrics=lambda s: ("score",),
                      axes=("task",), kind="lm_eval",
                      describe=lambda s: {"data_source": "lm-evaluation-harness"})

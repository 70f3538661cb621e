"""`needlework export lm-eval`: an eval config's benchmarks as a self-contained lm-eval task folder.

The items are exactly the ones `needlework eval` asks at that config (built through the registry, `limit`
applied per bucket), written as local JSONL (`dataset_path: json`); one YAML per task, one per group, and a
utils.py with needlework's own scoring source copied beside it (vendor.py), so the folder runs without
needlework installed. The JSONL paths in the YAMLs are absolute: a moved folder is exported again.

lm-eval left-truncates a prompt that does not fit its window (with one warning line), which turns a
long-context score into noise; so the export counts every prompt with the model's tokenizer, rendered as
needlework's backends render it (chat template, special tokens), and refuses when one plus max_new_tokens
exceeds the window.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from ...config import ConfigError
from ...io import atomic_open, write_json, write_jsonl
from ..base import Item
from ..cache import prompt_hash
from ..registry import get_benchmark
from ..runner import limit_per_bucket
from .tasks import GROUPS, ExportedTask, group_yaml, split_into_tasks, task_yaml
from .vendor import write_scoring_package

MARKER = "needlework_export.json"   # marks a folder this command wrote (and may replace)
EXPORTABLE_KV_TASKS = ("simple_kv", "multi_subkey_kv")   # the kv tasks whose readers the folder carries


def _target(benchmark: str, gold: dict) -> str:
    """The reference answer lm-eval logs beside each completion (scoring reads gold_json, not this)."""
    if benchmark == "kv-retrieval":
        return str(gold["gold_value"])
    if benchmark == "mdqa":
        return gold["answers"][0]
    return str(gold["label"])


class _Counter:
    """Prompt tokens as needlework's backends count them (backends/render.py): a chat request goes through the
    tokenizer's chat template with the generation prompt and no extra special tokens; raw text gets them."""

    def __init__(self, tokenizer, mode: str):
        self.tok, self.mode = tokenizer, mode
        self.has_template = bool(getattr(tokenizer, "chat_template", None))
        if mode == "on" and not self.has_template:
            raise ConfigError("backend.chat_template=on but the model's tokenizer has no chat template")

    def templated(self, item: Item) -> bool:
        return self.mode != "off" and self.has_template and (item.request.messages is not None or self.mode == "on")

    def count(self, item: Item, text: str) -> int:
        if self.templated(item):
            rendered = self.tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                    add_generation_prompt=True)
            return len(self.tok(rendered, add_special_tokens=False)["input_ids"])
        return len(self.tok(text)["input_ids"])


def _prompt_text(item: Item) -> str:
    req = item.request
    if req.messages is None:
        return req.prompt
    if len(req.messages) != 1 or req.messages[0].get("role") != "user":
        raise ConfigError(f"{item.id}: only one-user-turn prompts are exported")
    return req.messages[0]["content"]


def model_window(cfg, max_length: int | None) -> int:
    """The window the prompts must fit: --max-length, else backend.context_length, else the model's config."""
    if max_length is not None:
        if max_length < 1:
            raise ConfigError(f"--max-length must be >= 1, got {max_length}")
        return max_length
    if cfg.backend.context_length:
        return cfg.backend.context_length
    from transformers import AutoConfig

    from ...models import resolve_model_path
    try:
        mcfg = AutoConfig.from_pretrained(resolve_model_path(cfg.model))
    except (OSError, ValueError) as e:
        raise ConfigError(f"model {cfg.model!r}: its config cannot be read here to find its window ({e}); "
                          "set --max-length") from None
    mcfg = mcfg.get_text_config() if hasattr(mcfg, "get_text_config") else mcfg
    window = getattr(mcfg, "max_position_embeddings", None)
    if not window:
        raise ConfigError(f"model {cfg.model!r} names no max_position_embeddings; set --max-length")
    return int(window)


def _check_exportable(cfg) -> None:
    if cfg.backend.system_prompt:
        raise ConfigError("backend.system_prompt is not exported: lm-eval would need --system_instruction, "
                          "which renders differently without a chat template; leave it unset to export")
    for name in cfg.benchmarks:
        bench = get_benchmark(name)
        if bench.name not in GROUPS:
            raise ConfigError(f"benchmarks: {bench.name} is not exported to lm-eval (exported: "
                              f"{', '.join(GROUPS)}; general already runs in lm-eval)")
        if bench.name == "kv-retrieval" and cfg.kv_retrieval.task not in EXPORTABLE_KV_TASKS:
            raise ConfigError(f"kv_retrieval.task={cfg.kv_retrieval.task}: the exported folder carries the readers "
                              f"of {', '.join(EXPORTABLE_KV_TASKS)} only")


def build_tasks(cfg) -> list[ExportedTask]:
    """The config's items, exactly as `needlework eval` builds them, split into lm-eval tasks."""
    cfg.validate()
    _check_exportable(cfg)
    tasks = []
    for name in cfg.benchmarks:
        bench = get_benchmark(name)
        settings = bench.bind(getattr(cfg, bench.section), cfg.model)
        items = limit_per_bucket(bench.build(settings, cfg.seed), cfg.limit)
        tasks += split_into_tasks(bench, settings, items)
    return tasks


def _rows(task: ExportedTask, counter: _Counter, window: int) -> tuple[list[dict], list[tuple[str, int, int]]]:
    rows, over = [], []
    for it in task.items:
        text = _prompt_text(it)
        n = counter.count(it, text)
        if n + it.request.max_new_tokens > window:
            over.append((it.id, n, it.request.max_new_tokens))
        rows.append({"id": it.id, "benchmark": task.benchmark, "bucket": it.bucket, "axes_json": json.dumps(it.axes),
                     "cluster": it.cluster, "prompt": text, "target": _target(task.benchmark, it.gold),
                     "gold_json": json.dumps(it.gold), "prompt_tokens": n,
                     "prompt_hash": prompt_hash(it.request)})   # needlework's, so imported runs pair with its own
    return rows, over


def export_lm_eval(cfg, out: str | Path, max_length: int | None = None) -> dict:
    """Writes the task folder; returns {"folder", "groups": {group: [task names]}, "items", "chat", "window",
    "model" (the model's path, as lm-eval's hf model loads it)}."""
    from ...models import load_tokenizer, resolve_model_path

    tasks = build_tasks(cfg)
    window = model_window(cfg, max_length)
    counter = _Counter(load_tokenizer(cfg.backend.openai.tokenizer or cfg.model), cfg.backend.chat_template)
    out = Path(out).resolve()
    written, over = [], []
    for task in tasks:
        rows, bad = _rows(task, counter, window)
        written.append((task, rows))
        over += bad
    if over:
        item, n, new = max(over, key=lambda o: o[1])
        raise ConfigError(f"{len(over)} prompts plus max_new_tokens exceed the model's window of {window} tokens "
                          f"(longest: {item}, {n} + {new}); lm-eval would left-truncate them. Shorten the lengths, "
                          "lower max_new_tokens, or use a longer-context model (--max-length)")
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise ConfigError(f"--out {out}: the folder exists and holds no earlier export; choose a new folder")
        shutil.rmtree(out)   # a re-export replaces its folder whole: no task of an older export is left behind
    out.mkdir(parents=True, exist_ok=True)
    templated = {t.name: all(counter.templated(it) for it in t.items) for t in tasks}
    chat = any(templated.values())
    groups: dict[str, list[ExportedTask]] = {}
    model_path = resolve_model_path(cfg.model)
    for task, rows in written:
        data = out / "data" / f"{task.name}.jsonl"
        write_jsonl(data, rows)
        groups.setdefault(task.group, []).append(task)
        run = how_to_run(out, task.group, model_path, window, templated[task.name])
        with atomic_open(out / f"{task.name}.yaml") as f:
            f.write(task_yaml(task, str(data), templated[task.name], window, run))
    for group, members in groups.items():
        with atomic_open(out / f"{group}.yaml") as f:
            f.write(group_yaml(group, members, how_to_run(out, group, model_path, window, chat)))
    write_scoring_package(out)
    write_json(out / MARKER, {"config": cfg.identity(), "window": window, "groups": {g: [t.name for t in m]
                                                                                      for g, m in groups.items()}})
    return {"folder": out, "groups": {g: [t.name for t in m] for g, m in groups.items()},
            "items": sum(len(t.items) for t in tasks), "chat": chat, "window": window, "model": model_path}


def how_to_run(folder: Path, group: str, model: str, window: int, chat: bool) -> str:
    return (f"lm_eval --include_path {folder} --tasks {group} --model hf --model_args "
            f"pretrained={model},max_length={window} --batch_size 1 --log_samples --output_path <out>"
            + (" --apply_chat_template" if chat else ""))

"""`needlework import lm-eval`: lm-eval's per-sample output of exported tasks as a needlework eval folder.

lm-eval (`--log_samples --output_path OUT`) writes, per model, `OUT/<model>/samples_<task>_<date>.jsonl` (one
record per document: the document itself, the generated text, the metric values utils.py computed) and
`results_<date>.json` (the run's settings, each task's config with the metadata the export wrote). Every exported
document carries its needlework item id, bucket, axes and cluster, so the rows become exactly the rows
`needlework eval` writes (samples.jsonl) and are aggregated the same way (results.json): `needlework compare`
and the report's paired statistics and verdicts read them like any other evaluation.

A run whose settings differ from what the export asked is refused: without the chat template the export
asked for, or with a window shorter than the one the prompts were checked against (lm-eval may have
left-truncated them), its scores are not the benchmark's.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ...config import ConfigError
from ...io import read_jsonl, write_json, write_jsonl
from ..aggregate import aggregate

_SAMPLES = re.compile(r"^samples_(needlework_\w+?)_(\d{4}-\d{2}-\d{2}T[\d\-.]+)\.jsonl$")


def _newest(folder: Path) -> tuple[dict[str, Path], Path | None]:
    """{task: its newest samples file} and the newest results file of one model's lm-eval output folder."""
    files: dict[str, tuple[str, Path]] = {}
    for p in folder.iterdir():
        m = _SAMPLES.match(p.name)
        if m and (m.group(1) not in files or m.group(2) > files[m.group(1)][0]):
            files[m.group(1)] = (m.group(2), p)
    results = sorted(folder.glob("results_*.json"))
    return {t: p for t, (_, p) in sorted(files.items())}, (results[-1] if results else None)


def _model_folder(source: Path) -> Path:
    if not source.is_dir():
        raise ConfigError(f"{source} is not a folder (give lm-eval's --output_path, or the model folder in it)")
    folders = sorted({p.parent for p in source.rglob("samples_needlework_*.jsonl")})
    if not folders:
        raise ConfigError(f"{source}: no samples_needlework_*.jsonl (run lm_eval on an exported folder with "
                          "--log_samples --output_path)")
    if len(folders) > 1:
        raise ConfigError(f"{source} holds the samples of {len(folders)} runs ({', '.join(f.name for f in folders)}); "
                          "give the one model folder to import")
    return folders[0]


def _check_run(results: dict, configs: dict) -> None:
    """The run used the chat template and a window the export asked for."""
    for task, cfg in configs.items():
        meta = cfg.get("metadata") or {}
        if "apply_chat_template" in meta and bool(results.get("chat_template")) != bool(meta["apply_chat_template"]):
            said = "with" if meta["apply_chat_template"] else "without"
            raise ConfigError(f"{task}: the export asks to run {said} --apply_chat_template, and this lm-eval run "
                              "did not; its scores are not the benchmark's (re-run lm_eval)")
        ran, asked = results.get("max_length"), meta.get("max_length")
        if ran is not None and asked is not None and int(ran) < int(asked):
            raise ConfigError(f"{task}: lm-eval ran with max_length={ran}, shorter than the {asked} tokens the "
                              f"prompts were checked against (it may have left-truncated them); re-run with "
                              f"max_length={asked} in --model_args")


def _row(sample: dict) -> dict:
    doc = sample["doc"]
    row = {"benchmark": doc["benchmark"], "item_id": doc["id"], "bucket": doc["bucket"],
           "axes": json.loads(doc["axes_json"]), "prompt_hash": doc["prompt_hash"], "over_context": False,
           "prompt_tokens": doc.get("prompt_tokens"), "output": sample["filtered_resps"][0], "parsed": None,
           "scores": {m: float(sample[m]) for m in sample["metrics"]}}
    if doc.get("cluster"):
        row["cluster"] = doc["cluster"]
    return row


def import_lm_eval(source: str | Path, out: str | Path) -> Path:
    """Writes samples.jsonl and results.json into `out` from lm-eval's output at `source`; returns `out`."""
    folder = _model_folder(Path(source))
    samples, results_file = _newest(folder)
    results = json.loads(results_file.read_text(encoding="utf-8")) if results_file else {}
    configs = {t: c for t, c in (results.get("configs") or {}).items() if t in samples}
    _check_run(results, configs)
    rows: dict[str, list[dict]] = {}
    meta: dict[str, dict] = {}
    for task, path in samples.items():
        records = sorted(read_jsonl(path), key=lambda s: s["doc_id"])
        for s in records:
            row = _row(s)
            rows.setdefault(row["benchmark"], []).append(row)
        if records:
            meta.setdefault(records[0]["doc"]["benchmark"], (configs.get(task) or {}).get("metadata") or {})
    run_by = (f"lm-evaluation-harness {results.get('lm_eval_version', '')}".strip()
              + (f", model {results['config'].get('model')} {results['config'].get('model_args')}"
                 if results.get("config") else ""))
    bench_results = {}
    for name, rs in rows.items():
        m = meta.get(name, {})
        metrics = tuple(m.get("needlework_metrics") or rs[0]["scores"])
        axes = tuple(m.get("needlework_axes") or rs[0]["axes"])
        res = aggregate(rs, metrics, axes)
        res["describe"] = {**(m.get("needlework_describe") or {}), "run_by": run_by, "imported_from": str(folder)}
        bench_results[name] = res
    out = Path(out)
    write_jsonl(out / "samples.jsonl", [r for rs in rows.values() for r in rs])
    write_json(out / "results.json", {
        "benchmarks": bench_results,
        "over_context_rule": "the export refused every prompt that did not fit the window; none is excluded",
        "provenance": {"model": results.get("model_name"), "backend": f"lm-eval:{(results.get('config') or {}).get('model')}",
                       "lm_eval_version": results.get("lm_eval_version"), "seeds": [0],
                       "imported_from": str(folder),
                       "samples_files": [p.name for p in samples.values()]}})
    return out

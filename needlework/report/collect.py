"""Stage outputs -> one report dictionary (saved as report.json). Reads files only; runs nothing.

Every number in report.html / report.md comes from this dictionary, except the retrieval-heads section,
which build.py renders straight from each heads stage's heads.json (build.head_map_blocks; the dictionary
keeps only those folders under `head_maps`). Every number in the dictionary is either copied from a stage
output (results.json, train_log.jsonl, train.jsonl meta, loss_map.json) or is a mean/std/difference of such
numbers computed here, so a test can check the report against the stages.
Single-seed cells carry the evaluation's own 95% Wilson interval; multi-seed cells carry mean ± std
across seeds (and the per-seed values). Changes vs the base model are paired over items (samples.jsonl)
through needlework.evals.paired_runs, the comparison `needlework compare`
uses: a 95% paired interval, the exact McNemar p for 0/1 scores, and over several seeds the mean ± std of
the per-seed paired differences. A benchmark without per-item scores gets its change without an interval.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from ..evals.equivalence import DEFAULT_MARGIN, FLOOR_EPSILON, claim_reading, kept_reading, untestable
from ..evals.paired import reading
from ..evals.companion_paired import compare_companion, has_companion
from ..evals.paired_runs import compare_items, item_rows
from ..evals.power import power_table
from ..io import read_done, read_jsonl
from .hooks import report_hook, section_benchmark
from .pooled_transfer import pool_transfer
from .tables import PAPER_TASK_NAMES
from .family_matrix import collect_family_matrix
from .probe_curve import curve
from .retrieval_grid import DEFAULT_THRESHOLD, retrieval_section


INCONSISTENT = "inconsistent across seeds"


def _load(root: Path, rel: str, name: str) -> Any:
    return json.loads((root / rel / name).read_text())


def _cell(stats: list[dict]) -> dict[str, Any]:
    """One table cell from the same metric block of one or more evaluations (one per seed)."""
    accs = [s["accuracy"] for s in stats if s.get("accuracy") is not None]
    cell = {"accuracy": round(statistics.fmean(accs), 6) if accs else None, "values": accs, "seeds": len(stats),
            "correct": sum(s.get("correct") or 0 for s in stats), "n": sum(s.get("n") or 0 for s in stats)}
    if len(stats) == 1:
        cell["ci95"] = stats[0].get("ci95")
        cell["std"] = None
    else:
        cell["ci95"] = None
        cell["std"] = round(statistics.stdev(accs), 6) if len(accs) > 1 else None
    return cell


def _paired(res: dict | None) -> dict[str, Any]:
    """One change cell from a paired result: delta (mean over seeds when several), interval, p, reading (seeds
    whose own intervals lie on opposite sides of zero read "inconsistent across seeds", whatever the pooled
    interval says), and the equivalence test when one was asked for."""
    if not res or not res.get("n"):
        return {}
    seeds = res.get("seeds")
    plain = INCONSISTENT if seeds and seeds.get("conflicting") else reading(res["ci95"])
    return {"delta": seeds["mean"] if seeds else res["delta"], "ci95": res["ci95"], "p": res.get("p"),
            "n": res["n"], "se": res.get("se"), "method": res["method"], "reading": plain,
            "equivalence": res.get("equivalence"),
            "seeds": seeds, "before": res["before"], "after": res["after"]}


def _unpaired(base: dict, ft: dict) -> dict[str, Any]:
    """No per-item scores on one side: the difference of the aggregates, and no interval."""
    if base.get("accuracy") is None or ft.get("accuracy") is None:
        return {}
    return {"delta": round(ft["accuracy"] - base["accuracy"], 6), "ci95": None, "reading": "no interval",
            "note": "no per-item scores: no paired interval"}


def _changes(out: dict, metric: str, items: dict[str, list[list[dict]]], axes: list[str],
             margin: float | None = None) -> None:
    """out["change"][arm] = {overall, <axis>: [cell per axis row], metrics: {other metric: overall cell},
    missing, n_over_context}, each cell paired over items when both sides have per-item scores."""
    base_items = (items.get("base") or [[]])[0]
    for model in out["overall"]:
        if model == "base":
            continue
        seeds = items.get(model) or []
        if base_items and seeds and all(seeds):
            metrics = [metric] + [m for m in out["other_metrics"]]
            res = compare_items(base_items, seeds, metrics, axes, margin)
            ch: dict[str, Any] = {"overall": _paired(res["metrics"][metric]["overall"]), "missing": res["missing"],
                                  "n_over_context": res["n_over_context"],
                                  "metrics": {m: _paired(res["metrics"][m]["overall"]) for m in metrics[1:]}}
            for axis, rows in out["axes"].items():
                by_value = {r["value"]: r for r in res["metrics"][metric]["by_axis"].get(axis, [])}
                ch[axis] = [{"value": r["value"], **_paired(by_value.get(r["value"]))} for r in rows]
            if has_companion(base_items) and all(has_companion(x) for x in seeds):   # beside exact match
                ch["companion"] = {m: {**_paired(r), **{k: r.get(k) for k in ("t", "share_rose", "sd_diff", "unit",
                                                                                  "measures", "chance")}}
                                   for m, r in compare_companion(base_items, seeds).items()}
                # items each measure needs to detect the change it showed here, exact match included (evals/power.py)
                need = power_table(base_items, seeds[0], [metric, *ch["companion"]])
                ch["items_to_detect"] = {m: r["items_to_detect"] for m, r in need.items()}
        else:
            ch = {"overall": _unpaired(out["overall"]["base"], out["overall"][model]), "missing": None,
                  "metrics": {m: _unpaired(c["base"], c[model]) for m, c in out["other_metrics"].items()
                              if "base" in c and model in c}}
            for axis, rows in out["axes"].items():
                ch[axis] = [{"value": r["value"], **(_unpaired(r["cells"]["base"], r["cells"][model])
                                                     if "base" in r["cells"] and model in r["cells"] else {})}
                            for r in rows]
        out["change"][model] = ch


def _benchmark(name: str, runs: dict[str, list[dict]], items: dict[str, list[list[dict]]],
               margin: float | None = None) -> dict[str, Any]:
    """runs: model -> [benchmarks[name] of each seed's results.json]; items: model -> [per-item rows per seed]."""
    first = next(iter(runs.values()))[0]
    metric = first["primary_metric"]
    out: dict[str, Any] = {"primary_metric": metric, "describe": first.get("describe", {}), "axes": {},
                           "overall": {}, "other_metrics": {}, "change": {}}
    others = [m for m in first["overall"]["metrics"] if m != metric]
    for model, results in runs.items():
        out["overall"][model] = _cell([r["overall"]["metrics"][metric] for r in results])
        out["overall"][model]["mean_over_buckets"] = [r["overall"]["metrics"][metric].get("mean_over_buckets")
                                                      for r in results]
        out["overall"][model]["n_over_context"] = sum(r["overall"].get("n_over_context", 0) for r in results)
        for m in others:
            if all(m in r["overall"]["metrics"] for r in results):
                out["other_metrics"].setdefault(m, {})[model] = _cell([r["overall"]["metrics"][m] for r in results])
    for axis in first.get("by_axis", {}):
        values = [row["value"] for row in first["by_axis"][axis]]
        rows = []
        for v in values:
            cells = {}
            for model, results in runs.items():
                blocks = [next((row for row in r["by_axis"][axis] if row["value"] == v), None) for r in results]
                if all(b is not None for b in blocks):
                    cells[model] = _cell([b["metrics"][metric] for b in blocks])
            rows.append({"value": v, "cells": cells})
        out["axes"][axis] = rows
    if "base" in runs:
        _changes(out, metric, items, list(out["axes"]), margin)
    return out


def _general(name: str, runs: dict[str, list[dict]], items: dict[str, list[list[dict]]],
             margin: float = DEFAULT_MARGIN, eps: float = FLOOR_EPSILON) -> dict[str, Any]:
    """The paper's Table 1 shape: a row per model, a column per task, value and change vs base (the change's
    paired interval is in bench["change"][model]["task"]), each task's metric and shots, and claim 3's
    equivalence reading per task (bench["table1"]["kept"][model][task]) and overall."""
    bench = _benchmark(name, runs, items, margin)
    tasks = [row["value"] for row in bench["axes"].get("task", [])]
    table = {}
    for model in runs:
        table[model] = {}
        for row in bench["axes"].get("task", []):
            cell = row["cells"].get(model)
            base = row["cells"].get("base")
            if cell is None:
                continue
            delta = (round(cell["accuracy"] - base["accuracy"], 6)
                     if model != "base" and base and None not in (cell["accuracy"], base["accuracy"]) else None)
            table[model][row["value"]] = {"value": cell["accuracy"], "std": cell["std"], "delta": delta}
    change = {model: {c["value"]: c for c in ch.get("task", [])} for model, ch in bench["change"].items()}
    chance = _chance((items.get("base") or [[]])[0], tasks)
    why = {t: untestable((table.get("base", {}).get(t) or {}).get("value"), _base_n(bench, t), chance[t], eps)
           for t in tasks}
    kept = {model: {t: kept_reading((c.get(t) or {}).get("ci95"), (c.get(t) or {}).get("equivalence"), why[t])
                    for t in tasks} for model, c in change.items()}
    bench["table1"] = {"tasks": tasks, "rows": table, "change": change, "columns": _columns(runs, tasks),
                       "chance": chance, "untestable": why, "kept": kept, "margin": margin,
                       "claim": {model: claim_reading(r, PAPER_TASK_NAMES) for model, r in kept.items()}}
    return bench


def _chance(rows: list[dict], tasks: list[str]) -> dict[str, float]:
    """Per task: the mean chance score of its items (1/choices for multiple choice; 0 for generative)."""
    out = {}
    for t in tasks:
        ch = [r["chance"] for r in rows if r.get("axes", {}).get("task") == t and r.get("chance") is not None]
        out[t] = round(statistics.fmean(ch), 6) if ch else 0.0
    return out


def _base_n(bench: dict, task: str) -> int:
    row = next((r for r in bench["axes"].get("task", []) if r["value"] == task), None)
    return ((row or {}).get("cells", {}).get("base") or {}).get("n") or 0


def _columns(runs: dict[str, list[dict]], tasks: list[str]) -> dict[str, dict]:
    """Per task: the headline metric, shots, the other harness metrics (HellaSwag: acc_norm beside acc) by
    model, and the substitute note (GSM8K exemplars, TriviaQA subset, ARC split) from results.json."""
    out = {}
    for t in tasks:
        info = next((r.get("describe", {}).get("tasks", {}).get(t) for rs in runs.values() for r in rs
                     if r.get("describe", {}).get("tasks", {}).get(t)), None) or {}
        beside = {}
        for model, rs in runs.items():
            m = (rs[0].get("describe", {}).get("tasks", {}).get(t) or {}).get("harness_metrics") or {}
            beside[model] = {k.split(",")[0]: v for k, v in m.items()
                             if k.startswith("acc_norm,") and isinstance(v, (int, float))}
        out[t] = {"metric": info["harness_metric"].split(",")[0] if info.get("harness_metric") else None,
                  "shots": info.get("num_fewshot", 0), "note": info.get("note"), "beside": beside}
    return out


def _evaluated(results: dict, stage: dict) -> dict[str, Any]:
    """Which weights one evaluation ran (results.json's content hashes), so "the fine-tuned model was
    evaluated" can be checked from the report."""
    prov = results.get("provenance", {})
    precision = prov.get("precision")
    return {"seed": stage["info"].get("seed"), "model": prov.get("model"),
            "precision": precision.get("dtype") if isinstance(precision, dict) else precision,
            "weights_sha256": prov.get("weights_sha256"), "tokenizer_sha256": prov.get("tokenizer_sha256")}


def _training(root: Path, stage: dict) -> dict[str, Any]:
    model = root / stage["folder"] / "model"
    log = model / "train_log.jsonl"
    log_rows = list(read_jsonl(log, skip_truncated_tail=True)) if log.exists() else []
    rows = [r for r in log_rows if r.get("loss") is not None]
    done = read_done(model) or {}
    prov = json.loads((model / "provenance.json").read_text()) if (model / "provenance.json").exists() else {}
    return {"arm": stage["info"]["arm"], "seed": stage["info"]["seed"], "steps": [r["step"] for r in rows],
            "loss": [r["loss"] for r in rows], "final_loss": rows[-1]["loss"] if rows else None,
            "global_step": done.get("global_step"), "train_loss": prov.get("train_loss"),
            "tokens": prov.get("tokens"), "fine_tuned_model": done.get("fine_tuned_model"),
            "seconds": _seconds(root / stage["folder"]), "precision": (prov.get("precision") or {}).get("reason"),
            "stopped_early_at": prov.get("stopped_early_at"), "curve": curve(log_rows, prov.get("held_out")),
            "max_steps": (prov.get("config") or {}).get("max_steps")}


def _seconds(folder: Path) -> float | None:
    return (read_done(folder) or {}).get("seconds")


def _data_card(root: Path, stage: dict) -> dict[str, Any]:
    folder = root / stage["folder"]
    prov = json.loads((folder / "train.jsonl.provenance.json").read_text())
    rows = list(read_jsonl(folder / "train.jsonl"))
    toks = [r.get("meta", {}).get("n_tokens") for r in rows]
    known = [t for t in toks if t is not None]
    cfg = prov.get("config", {})
    mixture = None
    if prov.get("mixture"):   # per component: what was asked (weight) and what the file holds (samples, tokens)
        mixture = [{**{k: c[k] for k in ("name", "task", "weight", "share", "samples")},
                    "tokens": sum(r.get("meta", {}).get("n_tokens") or 0 for r in rows
                                  if r.get("meta", {}).get("component") == c["name"])} for c in prov["mixture"]]
    return {"arm": stage["info"]["arm"], "seed": stage["info"]["seed"], "task": cfg.get("task"), "n": len(toks),
            "format": cfg.get("format"), "tokenizer": cfg.get("tokenizer"), "chat_template": cfg.get("chat_template"),
            "params": prov.get("task_config"), "data_hash": prov.get("data_hash"),
            "tokens": {"min": min(known), "mean": round(statistics.fmean(known), 1), "max": max(known),
                       "total": sum(known)} if known else None, "mixture": mixture}


def collect(root: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    root = Path(root)
    stages = manifest["stages"]
    evals = [s for s in stages if s["kind"] == "eval"]
    results = {s["folder"]: _load(root, s["folder"], "results.json") for s in evals}
    models = ["base"] + list(manifest["arms"])
    by_bench: dict[str, dict[str, list[dict]]] = {}
    by_items: dict[str, dict[str, list[list[dict]]]] = {}
    sources: dict[str, list[str]] = {}
    evaluated: dict[str, list[dict]] = {}
    for model in models:
        mine = [s for s in evals if (s["label"] == "base" if model == "base" else s["info"].get("arm") == model)]
        mine.sort(key=lambda s: s["info"].get("seed", -1))
        sources[model] = [str(Path(s["folder"]) / "results.json") for s in mine]
        evaluated[model] = [_evaluated(results[s["folder"]], s) for s in mine]
        for s in mine:
            rows = item_rows(root / s["folder"])
            for bname, bres in results[s["folder"]]["benchmarks"].items():
                by_bench.setdefault(bname, {}).setdefault(model, []).append(bres)
                by_items.setdefault(bname, {}).setdefault(model, []).append(rows.get(bname, []))
    margin = manifest.get("equivalence_margin", DEFAULT_MARGIN)
    eps = manifest.get("floor_epsilon", FLOOR_EPSILON)
    benchmarks = {b: (_general(b, runs, by_items[b], margin, eps)
                      if report_hook(b).shape == "table1" else _benchmark(b, runs, by_items[b]))
                  for b, runs in by_bench.items()}
    loss_maps = []
    for s in (s for s in stages if s["kind"] == "loss-map"):
        lm = _load(root, s["folder"], "loss_map.json")
        loss_maps.append({"role": s["label"], "model": lm.get("model"), "summary": lm.get("summary"),
                          "png": str(Path(s["folder"]) / "loss_map.png")})
    prov_path = root / "provenance.json"
    rep = {"title": manifest["title"], "name": manifest["name"], "seeds": manifest["seeds"], "models": models,
            "base_model": manifest["base_model"], "benchmarks": benchmarks, "sources": sources,
           "study_preset": manifest.get("study_preset"),
           "evaluated": evaluated,
            "training": [_training(root, s) for s in stages if s["kind"] == "train"],
            "data": [_data_card(root, s) for s in stages if s["kind"] == "generate"],
            "loss_maps": loss_maps,
            "head_maps": [s["folder"] for s in stages if s["kind"] == "heads"],
            "family_matrix": (collect_family_matrix(root, manifest) if section_benchmark("family-matrix", by_bench)
                              else None),
            # claim 2 over every transfer benchmark: per-task paired changes pooled by random effects
            "transfer_pooled": pool_transfer(benchmarks, {b: (m.get("base") or [[]])[0] for b, m in by_items.items()},
                                             eps),
            "stage_seconds": {f"{s['kind']}/{s['label']}": _seconds(root / s["folder"]) for s in stages},
            "stage_keys": {f"{s['kind']}/{s['label']}": s["key"] for s in stages},
            "provenance": json.loads(prov_path.read_text()) if prov_path.exists() else {}}
    grid_name = section_benchmark("retrieval-grid", by_bench)
    rep["retrieval"] = retrieval_section(by_bench.get(grid_name), rep["data"], list(manifest["arms"]),
                                         manifest.get("effective_length_threshold", DEFAULT_THRESHOLD),
                                         by_items.get(grid_name))
    return rep

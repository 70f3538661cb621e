"""Stage outputs written by hand (no model runs): enough for the report to render every section."""
from __future__ import annotations

import json
from pathlib import Path

from needlework.evals.aggregate import aggregate
from needlework.io import write_json, write_jsonl


def _results(acc_by_pos: dict[int, float], n: int = 20, general: dict | None = None) -> dict:
    """results.json plus its per-item files: the i-th item of each position is right when i < acc * n, so
    the same item ids carry before/after pairs; general tasks get 100 items each the same way."""
    rows = []
    for pos, acc in acc_by_pos.items():
        k = round(acc * n)
        rows += [{"benchmark": "kv-retrieval", "item_id": f"kv/pos={pos}/{i}", "bucket": f"position={pos}",
                  "axes": {"position": pos}, "over_context": False,
                  "scores": {"value_acc": float(i < k), "value_dict_acc": float(i < k - 1)}} for i in range(n)]
    out = {"benchmarks": {"kv-retrieval": {**aggregate(rows, ("value_acc", "value_dict_acc"), ("position",)),
                                           "describe": {"data_source": "fake"}}}}
    files: dict = {"results.json": out, "samples.jsonl": rows}
    if general:
        buckets = [{"value": t, "n": 100, "n_over_context": 0,
                    "metrics": {"score": {"accuracy": v, "correct": v * 100, "n": 100, "ci95": [v - .1, v + .1]}}}
                   for t, v in general.items()]
        out["benchmarks"]["general"] = {"primary_metric": "score", "by_axis": {"task": buckets}, "buckets": [],
                                        "overall": {"n": 200, "n_over_context": 0, "metrics": {"score": {
                                            "accuracy": None, "correct": None, "n": 0}}}, "describe": {}}
        for t, v in general.items():   # general's rows go into samples.jsonl, as the runner writes them
            rows += [{"benchmark": "general", "item_id": f"{t}/{i}", "bucket": f"task={t}", "axes": {"task": t},
                      "over_context": False, "scores": {"score": float(i < round(v * 100))}} for i in range(100)]
    return files


def fake_run(root: Path, seeds: tuple[int, ...] = (0, 1), general: bool = True) -> dict:
    """A base model and one arm (two seeds by default); returns the manifest."""
    stages = []

    def stage(kind, label, info, files):
        folder = f"{kind}/{label}-0000"
        for name, content in files.items():
            p = root / folder / name
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                p.write_bytes(content)
            elif name.endswith(".jsonl"):
                write_jsonl(p, content)
            else:
                write_json(p, content)
        write_json(root / folder / "done.json", {"key": "0000", "seconds": 1.5, "outputs": {}})
        stages.append({"kind": kind, "label": label, "key": "0000", "info": info, "folder": folder})

    stage("eval", "base", {"role": "base"},
          _results({1: .2, 5: .1, 10: .3}, general={"mmlu": .5, "nq_open": .2} if general else None))
    for seed, accs in ((0, {1: .9, 5: .85, 10: 1.0}), (1, {1: .95, 5: .8, 10: .9})):
        if seed not in seeds:
            continue
        rows = [{"messages": [], "meta": {"n_tokens": 100 + i}} for i in range(5)]
        stage("generate", f"kv-s{seed}", {"arm": "kv", "seed": seed}, {
            "train.jsonl": rows, "train.jsonl.provenance.json": {
                "config": {"task": "simple_kv", "format": "messages", "tokenizer": "tok", "chat_template": True},
                "task_config": {"num_dict": 8}, "data_hash": "abc"}})
        log = [{"step": s, "loss": 2.0 / s} for s in range(1, 6)]
        stage("train", f"kv-s{seed}", {"arm": "kv", "seed": seed}, {
            "model/train_log.jsonl": log, "model/done.json": {"key": "0000", "global_step": 5},
            "model/provenance.json": {"train_loss": 0.9, "tokens": 500}})
        stage("eval", f"kv-s{seed}", {"role": "fine-tuned", "arm": "kv", "seed": seed},
              _results(accs, general={"mmlu": .5 - seed / 100, "nq_open": .21} if general else None))
    from needlework.report.plots import training_loss
    png = training_loss([{"arm": "x", "seed": 0, "steps": [1, 2], "loss": [1.0, 0.5]}])
    stage("loss-map", "base", {"role": "base"}, {"loss_map.json": {"model": "m", "summary": {
        "with template": {"mean_loss": 1.0, "value_tokens_mean_loss": 2.0, "format_tokens_mean_loss": 0.5}}},
        "loss_map.png": png})
    write_json(root / "provenance.json", {"config_hash": "h", "git": "g", "versions": {"torch": "x"}})
    return {"name": "fake", "title": "fake run", "seeds": list(seeds), "arms": ["kv"], "base_model": "m",
            "stages": stages}

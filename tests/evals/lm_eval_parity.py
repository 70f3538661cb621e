"""Runs an exported lm-eval folder through lm-eval's own `hf` model and the same config through `needlework eval`,
and pairs their per-item outputs and scores (the export tests' one comparison, tiny model and SmolLM2 alike)."""
from __future__ import annotations

from pathlib import Path

from needlework.config import from_dict
from needlework.evals.lm_eval_export.export import export_lm_eval
from needlework.evals.runner import EvalConfig, run_eval
from needlework.io import read_jsonl


def eval_config(model: str, out: Path, **sections) -> EvalConfig:
    """Greedy, fp32, one prompt at a time on the CPU: what lm-eval's hf model runs with --batch_size 1. The
    exported tasks score generations; the companion measures (answer log-likelihoods) are needlework's own and are
    not exported, so they are off here and every metric compared is a generation's."""
    hf = {"precision": "fp32", "device": "cpu", "engine": "static", "batch_size": 1}
    return from_dict(EvalConfig, {"model": model, "out": str(out), "batch_size": 1, "companion": False,
                                  "backend": {"progress": False, "hf": hf}, **sections})


def lm_eval_samples(folder: Path, model: str, groups: list[str], window: int, chat: bool) -> dict:
    """{(benchmark, item id): lm-eval's sample record} for every task of `groups`, run through lm-eval's hf model."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    res = lm_eval.simple_evaluate(
        model="hf", model_args={"pretrained": model, "max_length": window, "dtype": "float32", "device": "cpu"},
        tasks=groups, task_manager=TaskManager(include_path=str(folder), include_defaults=False),
        batch_size=1, log_samples=True, apply_chat_template=chat, random_seed=0, numpy_random_seed=0,
        torch_random_seed=0, fewshot_random_seed=0)
    return {(s["doc"]["benchmark"], s["doc"]["id"]): s for samples in res["samples"].values() for s in samples}


def parity(model: str, tmp: Path, **sections) -> dict:
    """Exports, runs both, returns {"n", "ids", "differences": [(id, what, lm-eval's, needlework's)]}."""
    cfg = eval_config(model, tmp / "needlework", **sections)
    done = export_lm_eval(cfg, tmp / "tasks")
    lm = lm_eval_samples(done["folder"], model, list(done["groups"]), done["window"], done["chat"])
    run_eval(cfg)
    nw = {(r["benchmark"], r["item_id"]): r for r in read_jsonl(Path(cfg.out) / "samples.jsonl")}
    differences = []
    if set(lm) != set(nw):
        differences.append(("<ids>", "item ids", sorted(set(lm) ^ set(nw)), None))
    for item_id in sorted(set(lm) & set(nw)):
        ours, theirs = nw[item_id], lm[item_id]
        if theirs["filtered_resps"][0] != ours["output"]:
            differences.append((item_id, "output", theirs["filtered_resps"][0], ours["output"]))
        for metric, value in ours["scores"].items():
            if theirs.get(metric) != value:
                differences.append((item_id, metric, theirs.get(metric), value))
    return {"n": len(nw), "ids": sorted(nw), "differences": differences, "export": done, "lm_eval": lm,
            "needlework": nw}

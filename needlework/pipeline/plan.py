"""RunConfig -> the stage graph: generate and train per (arm, seed), one base evaluation, one evaluation per
fine-tuned model, loss maps, and the report. Stage functions only call the stages' public entry points.

Keys chain: train hashes its data stage's key, an evaluation hashes its model's training key, the report
hashes every key it reads, so a change reruns exactly the stages downstream of it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..io import to_jsonable
from .config import RunConfig
from .stages import Stage

# Settings that change no result: left out of keys so, e.g., turning off progress bars reruns nothing.
TRAIN_BOOKKEEPING = ("data", "out", "resume", "overwrite", "progress", "save_steps", "save_total_limit",
                     "num_threads")
EVAL_BOOKKEEPING = ("model", "out", "backend")
BACKEND_BOOKKEEPING = ("progress", "concurrency", "timeout_s", "max_retries", "backoff_s", "api_key_env")


def _train_identity(cfg: RunConfig) -> dict:
    d = to_jsonable(cfg.train.resolved())
    for k in TRAIN_BOOKKEEPING:
        d.pop(k, None)
    if cfg.train.backend != "openai":
        d.pop("openai", None)
    else:
        for k in ("poll_seconds", "timeout_seconds"):
            d["openai"].pop(k, None)
    return d


def _eval_identity(cfg: RunConfig) -> dict:
    d = to_jsonable(cfg.eval)
    for k in EVAL_BOOKKEEPING:
        d.pop(k, None)
    backend = {k: v for k, v in to_jsonable(cfg.backend).items() if k not in BACKEND_BOOKKEEPING}
    return {"eval": d, "backend": backend}


def trained_model(cfg: RunConfig, train_folder: Path) -> str:
    """What the evaluation backend calls the fine-tuned model: a local folder, or the service's model id."""
    model_dir = train_folder / "model"
    if cfg.train.backend == "openai":
        return json.loads((model_dir / "train_done.json").read_text())["fine_tuned_model"]
    return str(model_dir)


def build_stages(cfg: RunConfig, root: Path) -> list[Stage]:
    """All stages in execution order (dependencies first)."""
    from ..evals.runner import run_eval
    from ..tasks.dataset import generate_file
    from ..train.run import run_training

    gens: list[Stage] = []
    stages: list[Stage] = []
    ev_id = _eval_identity(cfg)
    base_eval = Stage("eval", "base", {"model": f"base:{cfg.base_model()}", **ev_id},
                      ["results.json", "samples.jsonl"],
                      lambda f: run_eval(cfg.eval_for(cfg.base_model(), str(f))),
                      info={"role": "base", "model": cfg.base_model()})
    first_ft: tuple[Stage, Stage] | None = None
    for arm in cfg.arm_names():
        for seed in cfg.seeds:
            data_cfg = cfg.data_for(arm, seed)
            gen = Stage("generate", f"{arm}-s{seed}", {"data": to_jsonable(data_cfg)},
                        ["train.jsonl", "train.jsonl.provenance.json"],
                        lambda f, a=arm, s=seed: generate_file(cfg.data_for(a, s, str(f / "train.jsonl"))),
                        info={"arm": arm, "seed": seed, "n": data_cfg.n, "task": data_cfg.task})

            def _train(f: Path, g=gen, s=seed) -> None:
                run_training(cfg.train_for([str(g.folder(root) / "train.jsonl")], s, str(f / "model")))

            hf = cfg.train.backend == "hf"
            train = Stage("train", f"{arm}-s{seed}", {"train": _train_identity(cfg), "seed": seed, "data": gen.key},
                          ["model/train_done.json"] + (["model/train_log.jsonl", "model/config.json"] if hf else []),
                          _train, deps=[gen], optional_outputs=["model/loss_curve.png", "model/provenance.json"],
                          info={"arm": arm, "seed": seed})
            ft_eval = Stage("eval", f"{arm}-s{seed}", {"model": train.key, **ev_id}, ["results.json", "samples.jsonl"],
                            lambda f, t=train: run_eval(cfg.eval_for(trained_model(cfg, t.folder(root)), str(f))),
                            deps=[train], info={"role": "fine-tuned", "arm": arm, "seed": seed})
            gens.append(gen)
            stages += [train, ft_eval]
            if first_ft is None:
                first_ft = (gen, train)
    # Data first (cheap, fails fast on bad settings), then the base model, then each fine-tune and its eval.
    return gens + [base_eval] + stages + _loss_map_stages(cfg, root, *first_ft)


def loss_map_available() -> bool:
    try:
        from ..train.loss_map import LossMapConfig, build_loss_map  # noqa: F401
    except ImportError:
        return False
    return True


def _loss_map_stages(cfg: RunConfig, root: Path, gen: Stage, train: Stage) -> list[Stage]:
    """Token-level loss of the answer, base vs first fine-tuned model, on a few training samples."""
    if not cfg.report.loss_map or cfg.train.backend != "hf" or not loss_map_available():
        return []

    def run(f: Path, model_of) -> None:
        from ..config import from_dict
        from ..train.loss_map import LossMapConfig, build_loss_map
        build_loss_map(from_dict(LossMapConfig, {"model": model_of(), "data": str(gen.folder(root) / "train.jsonl"),
                                                 "out": str(f), "n": cfg.report.loss_map_n,
                                                 "bf16": cfg.train.bf16}))

    out = []
    for label, model_of, deps, ident in (
            ("base", lambda: cfg.train.model, [gen], {"model": f"base:{cfg.train.model}"}),
            (train.label, lambda: trained_model(cfg, train.folder(root)), [train], {"model": train.key})):
        out.append(Stage("loss-map", label, {**ident, "data": gen.key, "n": cfg.report.loss_map_n,
                                          "bf16": cfg.train.bf16},
                         ["loss_map.json", "loss_map.png"], lambda f, m=model_of: run(f, m), deps=deps,
                         optional_outputs=["loss_map.html"], info={"role": label}))
    return out


def manifest(cfg: RunConfig, root: Path, stages: list[Stage]) -> dict[str, Any]:
    """What the report reads: each stage's folder (relative to the run root) and its role."""
    return {"name": cfg.name, "title": cfg.report.title or f"needlework run {cfg.name}", "seeds": list(cfg.seeds),
            "arms": cfg.arm_names(), "base_model": cfg.base_model(),
            "stages": [{"kind": s.kind, "label": s.label, "key": s.key, "info": to_jsonable(s.info),
                        "folder": str(s.folder(root).relative_to(root))} for s in stages]}

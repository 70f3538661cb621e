"""RunConfig -> the stage graph: generate and train per (arm, seed), one base evaluation, one evaluation per
fine-tuned model, loss maps, and the report. Stage functions only call the stages' public entry points.

Keys chain: train hashes its data stage's key, an evaluation hashes its model's training key, the report
hashes every key it reads, so a change reruns exactly the stages downstream of it. A stage's own settings
are its config's identity() (the one the training marker and the eval cache use too), with the input it
reads named by that input stage's key instead of by a path.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..io import DONE, read_done, to_jsonable
from .config import RunConfig
from .stages import Stage

def _without(identity: dict, *inputs: str) -> dict:
    """A config's identity less the inputs that a stage key names by their stage keys instead."""
    return {k: v for k, v in identity.items() if k not in inputs}


def _content(model: str) -> dict:
    """A base model given as a local path is keyed by its content too (models.model_content): a folder retrained
    in place is another model, and its stages must run again. Bundled and hub names add nothing (their keys
    stay as they were)."""
    from ..models import model_content
    c = model_content(model)
    return {"model_content": c} if c else {}


def refuse_untemplated_data(cfg: RunConfig) -> None:
    """data.chat_template counts a sample's tokens as the model's chat template renders it; a model without one
    (a base model such as gemma3-270m) trains on the plain prompt, so the counts would be another model's.
    Refused before any stage runs, naming the setting (the generate stage would fail on it, hours into a run)."""
    from ..config import ConfigError
    from ..models import available_offline
    has_template: dict[str, bool] = {}   # arms share a tokenizer: load each once
    for arm in cfg.arm_names():
        d = cfg.data_for(arm, cfg.seeds[0])
        if not (d.chat_template and d.tokenizer and available_offline(d.tokenizer, "tokenizer")):
            continue
        if d.tokenizer not in has_template:
            from ..tasks.tokenization.tokens import has_chat_template
            has_template[d.tokenizer] = has_chat_template(d.tokenizer)
        if not has_template[d.tokenizer]:
            where = "data" if arm == cfg.arm else f"arms.{arm}"
            raise ConfigError(f"{where}.chat_template is on but {d.tokenizer!r} has no chat template (a base "
                              f"model trains on the plain prompt): set {where}.chat_template=false")


def trained_model(cfg: RunConfig, train_folder: Path) -> str:
    """What the evaluation backend calls the fine-tuned model: a local folder, or the service's model id."""
    model_dir = train_folder / "model"
    if cfg.train.backend == "openai":
        return read_done(model_dir)["fine_tuned_model"]
    return str(model_dir)


def trained_tasks(data_cfg) -> list[str]:
    """The task families a model trained on this data has seen (a mixture's components; the report's family
    matrix marks the other families held out)."""
    from ..tasks import get_task
    if data_cfg.is_mixture:
        return sorted({get_task(c.task).name for c in data_cfg.mixture})
    return [get_task(data_cfg.task).name]


def trained_families(cfg: RunConfig, data_cfg) -> list[str] | None:
    """The family matrix's families this data teaches (None without a family-matrix evaluation)."""
    from ..evals.registry import benchmark_key
    if "family-matrix" not in {benchmark_key(b) for b in cfg.eval.benchmarks}:
        return None
    comps = ([(c.task, {**data_cfg.params, **c.params}) for c in data_cfg.mixture] if data_cfg.is_mixture
             else [(data_cfg.task, dict(data_cfg.params))])
    return cfg.eval.family_matrix.trained_families(comps)


def build_stages(cfg: RunConfig, root: Path, context=None) -> list[Stage]:
    """All stages in execution order (dependencies first). `context`: the run's precision.RunContext, handed to
    every stage that computes (None: a plan that runs nothing)."""
    from ..evals.runner import run_eval
    from ..tasks.files.dataset import generate_file
    from ..train.masking import plain_training_identity
    from ..train.run import run_training

    gens: list[Stage] = []
    stages: list[Stage] = []
    ev_id = _without(cfg.eval_for("", "").identity(), "model")   # every evaluation's settings but its model
    base_eval = Stage("eval", "base", {"model": f"base:{cfg.base_model()}", **_content(cfg.base_model()), **ev_id},
                      ["results.json", "samples.jsonl"],
                      lambda f: run_eval(cfg.eval_for(cfg.base_model(), str(f)), context=context),
                      info={"role": "base", "model": cfg.base_model()})
    first_ft: tuple[Stage, Stage] | None = None
    plain: dict[tuple[str, str], dict] = {}
    for arm in cfg.arm_names():
        for seed in cfg.seeds:
            data_cfg = cfg.data_for(arm, seed)
            gen = Stage("generate", f"{arm}-s{seed}", {"data": data_cfg.identity()},
                        ["train.jsonl", "train.jsonl.provenance.json"],
                        lambda f, a=arm, s=seed: generate_file(cfg.data_for(a, s, str(f / "train.jsonl"))),
                        info={"arm": arm, "seed": seed, "n": data_cfg.n, "task": data_cfg.task,
                              "tasks": trained_tasks(data_cfg),
                              "trained_families": trained_families(cfg, data_cfg)})

            def _train(f: Path, g=gen, s=seed, a=arm) -> None:
                run_training(cfg.train_for([str(g.folder(root) / "train.jsonl")], s, str(f / "model"), a), context)

            def _submit(f: Path, g=gen, s=seed, a=arm) -> None:   # the service trains while the run goes on
                from ..train.openai_ft import submit
                t = cfg.train_for([str(g.folder(root) / "train.jsonl")], s, str(f / "model"), a)
                t.validate()
                submit(t.resolved())

            hf = cfg.train.backend == "hf"
            train_cfg = cfg.train_for([], seed, "", arm)
            train_id = _without(train_cfg.identity(), "data", "seed")
            if hf:   # a template-less model learns the answer after the plain separator (train/masking.py)
                fmt = (train_cfg.model, train_cfg.template)
                if fmt not in plain:   # arms and seeds share a model: load its tokenizer once
                    plain[fmt] = plain_training_identity(*fmt)
                train_id.update(plain[fmt])
            train = Stage("train", f"{arm}-s{seed}", {"train": train_id, "seed": seed, "data": gen.key},
                          [f"model/{DONE}"] + (["model/train_log.jsonl", "model/config.json"] if hf else []),
                          _train, deps=[gen], optional_outputs=["model/loss_curve.png", "model/provenance.json"],
                          info={"arm": arm, "seed": seed}, start=None if hf else _submit)
            ft_eval = Stage("eval", f"{arm}-s{seed}", {"model": train.key, **ev_id}, ["results.json", "samples.jsonl"],
                            lambda f, t=train: run_eval(cfg.eval_for(trained_model(cfg, t.folder(root)), str(f)),
                                                        context=context),
                            deps=[train], info={"role": "fine-tuned", "arm": arm, "seed": seed})
            gens.append(gen)
            stages += [train, ft_eval]
            if first_ft is None:
                first_ft = (gen, train)
    # Data first (cheap, fails fast on bad settings), then the base model, then each fine-tune and its eval.
    return (gens + [base_eval] + stages + _loss_map_stages(cfg, root, *first_ft, context)
            + _head_map_stages(cfg, root, *first_ft, context))


def loss_map_available() -> bool:
    try:
        from ..probes.loss_map import LossMapConfig, build_loss_map  # noqa: F401
    except ImportError:
        return False
    return True


def _loss_map_stages(cfg: RunConfig, root: Path, gen: Stage, train: Stage, context=None) -> list[Stage]:
    """Token-level loss of the answer, base vs first fine-tuned model, on a few training samples."""
    if not cfg.report.loss_map or cfg.train.backend != "hf" or not loss_map_available():
        return []

    from ..config import from_dict
    from ..probes.loss_map import LossMapConfig, build_loss_map

    def settings(model: str, out: str) -> LossMapConfig:
        return from_dict(LossMapConfig, {"model": model, "data": str(gen.folder(root) / "train.jsonl"), "out": out,
                                         "n": cfg.report.loss_map_n,
                                         "precision": cfg.precision, "device": cfg.device})

    map_id = _without(settings("", "").identity(), "model", "data")   # both named by stage keys below
    out = []
    for label, model_of, deps, ident in (
            ("base", lambda: cfg.train.model, [gen],
             {"model": f"base:{cfg.train.model}", **_content(cfg.train.model)}),
            (train.label, lambda: trained_model(cfg, train.folder(root)), [train], {"model": train.key})):
        out.append(Stage("loss-map", label, {**ident, "data": gen.key, "loss_map": map_id},
                         ["loss_map.json", "loss_map.png"], lambda f, m=model_of: build_loss_map(settings(m(), str(f)), context),
                         deps=deps, optional_outputs=["loss_map.html"], info={"role": label}))
    return out


def _head_map_stages(cfg: RunConfig, root: Path, gen: Stage, train: Stage, context=None) -> list[Stage]:
    """Retrieval score per attention head (needlework heads), base vs the first fine-tuned model, scored on
    the training file's last rows (the early-stopping hold-out when there is one: never trained on)."""
    if not cfg.report.head_maps or cfg.train.backend != "hf":
        return []
    n = cfg.report.head_maps_n

    def run(f: Path) -> None:
        from ..io import read_jsonl, write_jsonl
        from ..probes.head_maps import HeadMapsConfig, build_head_maps
        rows = list(read_jsonl(gen.folder(root) / "train.jsonl"))[-n:]
        write_jsonl(f / "samples.jsonl", rows)
        build_head_maps(HeadMapsConfig(model=cfg.train.model, compare=trained_model(cfg, train.folder(root)),
                                    data=str(f / "samples.jsonl"), out=str(f), n=n, device=cfg.device), context)

    return [Stage("heads", train.label, {"model": train.key, "data": gen.key, "n": n}, ["heads.json", "heads.png"],
                  run, deps=[gen, train], optional_outputs=["heads_compare.png", "heads_change.png"],
                  info={"role": train.label})]


def manifest(cfg: RunConfig, root: Path, stages: list[Stage]) -> dict[str, Any]:
    """What the report reads: each stage's folder (relative to the run root) and its role."""
    return {"name": cfg.name, "title": cfg.report.title or f"needlework run {cfg.name}", "seeds": list(cfg.seeds),
            "arms": cfg.arm_names(), "base_model": cfg.base_model(),
            "effective_length_threshold": cfg.report.effective_length_threshold,
            "equivalence_margin": cfg.report.equivalence_margin, "floor_epsilon": cfg.report.floor_epsilon,
            "study_preset": cfg.report.study_preset,
            "stages": [{"kind": s.kind, "label": s.label, "key": s.key, "info": to_jsonable(s.info),
                        "folder": str(s.folder(root).relative_to(root))} for s in stages]}

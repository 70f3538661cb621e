"""`needlework run`: every stage of a RunConfig in order, skipping finished ones, resuming unfinished ones.

Run root `<root>/<name>/`: run_config.yaml and provenance.json (the resolved config of the latest run),
`<stage>/<label>-<key>/` folders, and report.html / report.md copied from the latest report stage.

Under `accelerate launch` (WORLD_SIZE > 1) every process walks the same plan: training runs on all of them
(the Trainer shards it), evaluation too (each rank generates its share of the items, rank 0 merges and scores:
evals/shards.py), every other stage on rank 0 only while the others wait for its done marker.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable

from ..config import to_yaml
from ..io import atomic_open, atomic_path, folder_lock, write_json
from ..provenance import save_provenance, world_rank
from .config import RunConfig
from .plan import build_stages, manifest, refuse_untemplated_data
from .stages import Stage, execute, is_done, status

FAILED = ".failed"


def run_root(cfg: RunConfig) -> Path:
    return Path(cfg.root).expanduser() / cfg.name   # `root: ~/runs` is the home folder's, not a folder named ~


def report_stage(cfg: RunConfig, root: Path, stages: list[Stage]) -> Stage:
    from ..io import to_jsonable

    def run(folder: Path) -> None:
        from ..report.build import write_report
        write_report(root, manifest(cfg, root, stages), folder)

    return Stage("report", "report", {"inputs": {f"{s.kind}/{s.label}": s.key for s in stages},
                                      "report": to_jsonable(cfg.report), "name": cfg.name},
                 ["report.html", "report.md", "report.json"], run, deps=list(stages))


def all_stages(cfg: RunConfig, context=None) -> tuple[Path, list[Stage]]:
    root = run_root(cfg)
    stages = build_stages(cfg, root, context)
    return root, stages + [report_stage(cfg, root, stages)]


def _wait_for(stage: Stage, root: Path, poll_s: float = 5.0) -> None:
    """Non-zero ranks: wait until rank 0 has finished `stage` (or given up)."""
    folder = stage.folder(root)
    while not is_done(stage, folder):
        if (root / FAILED).exists():
            raise RuntimeError(f"rank 0 failed ({(root / FAILED).read_text().strip()}); stopping")
        time.sleep(poll_s)


def _free_accelerator_memory() -> None:
    """Training and evaluation each load a model; drop the previous one before the next stage loads its own."""
    import gc
    gc.collect()
    try:
        import torch
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
    _return_freed_heap()


def _return_freed_heap() -> None:
    """glibc keeps the heap a finished stage freed (a CPU evaluation's activations and caches: gigabytes) for this
    process instead of giving it back, so a run of several evaluations grows by each; trimming returns it."""
    import ctypes
    import ctypes.util
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):   # glibc only (not musl, macOS or Windows)
        libc.malloc_trim(0)


def _start_waiting_work(stages: list[Stage], root: Path, log: Callable[[str], None]) -> None:
    """Begin every unfinished stage that works elsewhere (OpenAI fine-tuning jobs) whose inputs are done, so
    the jobs of all arms and seeds train at the same time; beginning one twice is a no-op (its job id is kept)."""
    for st in stages:
        folder = st.folder(root)
        if st.start is None or is_done(st, folder) or not all(is_done(d, d.folder(root)) for d in st.deps):
            continue
        if not (folder / ".started").exists():
            log(f"  {st.title}: starting ({folder})")
            folder.mkdir(parents=True, exist_ok=True)
            st.start(folder)
            (folder / ".started").touch()


def run(cfg: RunConfig, log: Callable[[str], None] = print, estimate: bool = True, context=None) -> Path:
    """Execute the run; returns the run root (report.html and report.md are there when it returns).
    `estimate`: first print the plan with times measured on this machine (a few seconds of model steps).
    `context`: the run's precision.RunContext (device, precision, threads); None: resolved here, once, and
    handed to every stage. One run at a time per run folder (io.folder_lock)."""
    with folder_lock(run_root(cfg)):
        return _run(cfg, log, estimate, context)


def _run(cfg: RunConfig, log: Callable[[str], None], estimate: bool, context) -> Path:
    world, rank = world_rank()
    main = rank == 0
    refuse_untemplated_data(cfg)
    if context is None:
        context = cfg.resolve_context(log=log if main else None)
    root, stages = all_stages(cfg, context)
    if main:
        root.mkdir(parents=True, exist_ok=True)
        (root / FAILED).unlink(missing_ok=True)
        with atomic_open(root / "run_config.yaml") as f:
            f.write(to_yaml(cfg))
        save_provenance(root / "provenance.json", cfg, stages={f"{s.kind}/{s.label}": s.key for s in stages},
                        context=context.as_dict())
        log(f"needlework run {cfg.name}: {len(stages)} stages under {root}")
        if estimate and any(not is_done(st, st.folder(root)) for st in stages):
            est: dict[str, float | None] = {}
            log(plan_text(cfg, log=log, estimates=est, context=context))   # what this machine will take, before work
            write_json(root / "plan.json", est)           # the end-of-run summary sets the times against it
    try:
        for i, st in enumerate(stages, 1):
            if main and st.kind != "generate":
                _start_waiting_work(stages, root, log)
            if main:
                log(f"[{i}/{len(stages)}] {st.title} ({st.key})")
            if st.kind in ("train", "eval") or main:   # evaluation is data-parallel too (evals/shards.py)
                execute(st, root, log if main else (lambda _: None), mark=main)
                _free_accelerator_memory()
            if not main and st.kind != "train":        # rank 0 scores and marks it; the next stage needs it
                _wait_for(st, root)
    except Exception as e:
        if main and world > 1:
            (root / FAILED).write_text(f"{type(e).__name__}: {e}\n")
        raise
    if main:
        report = stages[-1].folder(root)
        for name in ("report.html", "report.md"):
            with atomic_path(root / name) as tmp:
                shutil.copyfile(report / name, tmp)
    return root


def _memory_lines(cfg: RunConfig) -> list[str]:
    """GPU memory per GPU for the run's model at its longest training sample (pipeline/memory.py): shown where it
    matters, for models of 1B parameters and more or when GPUs are visible."""
    from .memory import memory_lines, memory_table, model_config, parameter_counts, visible_gpus
    if cfg.train.backend != "hf":
        return []
    c = model_config(cfg.train.model)
    gpus = visible_gpus()
    if c is None or (not gpus and parameter_counts(c)[0] < 1e9):
        return []
    t = cfg.train.resolved()
    rows = memory_table(c, [t.max_length], params=t.params, lora_r=t.lora.r, batch=t.batch_size,
                        checkpointing=t.gradient_checkpointing, eval_batch=cfg.backend.hf.batch_size)
    return memory_lines(rows, gpus, t.gradient_checkpointing)


def plan_text(cfg: RunConfig, log: Callable[[str], None] = print, estimates: dict | None = None,
              context=None) -> str:
    """The resolved plan: every stage with its key, status, token count and time estimated from throughputs
    measured on this machine at the run's `context` (see pipeline/measure.py); ends with a warning, naming a
    smaller size, when the unfinished stages are expected to take longer than the preset's limit
    (estimate.expected_minutes[_fp32]). Nothing measured here changes what the run evaluates."""
    from .estimate import data_tokens, eval_estimate, fmt_seconds, fmt_tokens, stage_estimate, throughput
    root, stages = all_stages(cfg, context)
    data = {a: data_tokens(cfg, a, cfg.seeds[0]) for a in cfg.arm_names()}
    ev = eval_estimate(cfg)
    todo = [st for st in stages if status(st, st.folder(root)) != "done"]
    needs_model = any(st.kind in ("train", "eval", "loss-map", "heads") for st in todo)
    tp = throughput(cfg, data[cfg.arm], ev, context, log=log) if needs_model else None
    lines = [f"needlework run {cfg.name} (plan): {len(stages)} stages under {root}, size {cfg.size}",
             f"{'stage':10s} {'label':16s} {'status':8s} {'tokens':>9s} {'est. time':>10s}  key"]
    total_s = 0.0
    for st in stages:
        tok, secs, exact = stage_estimate(cfg, st.kind, st.info, data, ev, tp)
        st_status = status(st, st.folder(root))
        if st_status != "done" and secs:
            total_s += secs
        if estimates is not None and st_status != "done":
            estimates[f"{st.kind}/{st.label}"] = round(secs, 1) if secs else None
        lines.append(f"{st.kind:10s} {st.label:16s} {st_status:8s} {fmt_tokens(tok, exact):>9s} "
                     f"{fmt_seconds(secs) if secs is not None else '-':>10s}  {st.key}")
    for name, b in ev["benchmarks"].items():
        comp = (f" (of which {fmt_tokens(b['companion_tokens'], ev['exact'])} for the companion measures: eval."
                "companion=false drops them)" if b.get("companion_tokens") else "")
        lines.append(f"  eval per model: {name}: {b['items']} prompts, {fmt_tokens(b['tokens'], ev['exact'])} tokens"
                     + comp)
    lines += [f"  {n}" for n in ev["notes"]]
    for a, d in data.items():
        if d.get("note"):
            lines.append(f"  data {a}: {d['note']}")
    if tp is not None and tp.source == "measured":
        basis = (f"measured here: prefill {tp.prefill_tokens_per_s:,.0f} tok/s, decode "
                 f"{tp.decode_step_s * 1000:.0f} ms/step x{tp.decode_batch} ({tp.eval_precision}), train "
                 f"{tp.train_tokens_per_s:,.0f} tok/s ({tp.train_precision})")
    else:
        basis = (f"at {cfg.estimate.train_tokens_per_s:g} train / {cfg.estimate.eval_tokens_per_s:g} eval tokens/s "
                 f"from estimate.*" + (f"; {tp.note}" if tp is not None and tp.note else ""))
    early = " (training stops earlier once the answer is learned)" if cfg.train.early_stop.enabled else ""
    lines.append(f"estimated time for unfinished stages: {fmt_seconds(total_s)}{early} ({basis})")
    lines += _memory_lines(cfg)
    if cfg.train.backend == "openai":
        from ..train.openai_ft import cost_estimate
        for a, d in data.items():
            if d.get("tokens"):
                lines.append(f"  OpenAI fine-tuning cost per job, {a}: "
                             f"{cost_estimate(cfg.train.openai.model, d['tokens'], cfg.train.openai.n_epochs)}"
                             f" x {len(cfg.seeds)} seed(s)")
    for a, why in cfg.skipped_arms().items():
        lines.append(f"skipped arm {a}: {why}")
    if cfg.paper_differences:
        lines.append("differences from the paper (deliberate):")
        lines += [f"  - {d}" for d in cfg.paper_differences]
    lines += over_limit_lines(cfg, total_s, context.precision.name if context is not None
                              else tp.train_precision if tp is not None else None)
    return "\n".join(lines)


def over_limit_lines(cfg: RunConfig, total_s: float, precision: str | None) -> list[str]:
    """A warning where the estimate exceeds the preset's limit (estimate.expected_minutes, or _fp32 where the run
    computes in fp32), naming the next smaller size; the items stay the config's either way."""
    e = cfg.estimate
    limit = e.expected_minutes_fp32 if precision == "fp32" and e.expected_minutes_fp32 else e.expected_minutes
    if limit is None or total_s <= limit * 60:
        return []
    from .config import SIZES
    smaller = [s for s in SIZES[:SIZES.index(cfg.size)] if s == "default" or s in cfg.sizes]
    advice = (f"`--size {smaller[-1]}` (size={smaller[-1]}) evaluates a smaller fixed item set" if smaller
              else "there is no smaller size; expect the longer time")
    return [f"WARNING: estimated {total_s / 60:.1f} min, more than the {limit:g} minutes this preset is meant to "
            f"take at size {cfg.size}{' in fp32' if precision == 'fp32' else ''} on this machine: {advice}. The "
            "items stay as configured (the same on every machine)."]

"""Helpers shared by the training tests (importable from subprocesses too)."""
from __future__ import annotations


def make_rows(n: int, shape: str = "messages", num_dict: int = 3, seed: int = 0, template: bool = True):
    from needlework.tasks import generate_sample, get_task
    from needlework.tasks.files.formats import to_row

    task = get_task("simple_kv")
    cfg = task.config_cls(num_dict=num_dict, template=template)
    return [to_row(generate_sample(task, cfg, seed, i), shape) for i in range(n)]


def tiny_kwargs(model_dir, data, out, **kw) -> dict:
    """A fast, deterministic TrainConfig for the tiny model: constant lr, no warmup, one process's worth."""
    base = dict(model=str(model_dir), data=[str(d) for d in data], out=str(out), lr=3e-3, global_batch=8,
                batch_size=8, lr_scheduler="constant", warmup_ratio=0.0, progress=False, seed=0,
                precision="fp32")   # fp32 whatever the CPU: the tests compare numbers
    base.update(kw)
    return base

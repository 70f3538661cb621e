"""Pure data generators: (config, seed, index) -> sample. No torch, no trainer, no backend here."""
from .base import Sample, Task, generate_sample, sample_rng
from .registry import all_tasks, get_task

__all__ = ["Sample", "Task", "all_tasks", "generate_sample", "get_task", "sample_rng"]

"""Pure data generators: (config, seed, index) -> sample. No torch, no trainer, no backend here."""
from .base import Sample, Task, all_tasks, generate_sample, get_task, sample_rng

__all__ = ["Sample", "Task", "all_tasks", "generate_sample", "get_task", "sample_rng"]

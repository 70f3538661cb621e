"""`general`: the paper's general-ability benchmarks through lm-evaluation-harness. benchmark.py is the benchmark
(settings, plan, run), data.py the pinned offline data, harness_tasks.py the harness task YAMLs (lm-eval tasks, not
needlework's task generators) that read it, models.py the harness model on needlework's backend."""

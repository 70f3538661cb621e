"""`general`: the paper's general-ability benchmarks through lm-evaluation-harness. general.py is the benchmark
(settings, plan, run), general_data.py the pinned offline data, general_tasks.py the harness task YAMLs that read
it, general_models.py the harness model on needlework's backend."""

"""Benchmarks (the records in registry.BENCHMARKS: `needlework eval --help` lists them), their metrics, the
resumable runner and compare.

    from needlework.evals.runner import EvalConfig, run_eval      # run_eval(cfg) -> run directory
    from needlework.evals.compare import compare                  # compare(run_a, run_b) -> (table, pngs)
    from needlework.evals.registry import get_benchmark, all_benchmarks
"""

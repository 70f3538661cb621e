"""needlework's benchmarks where researchers already evaluate: an lm-evaluation-harness task folder written from
an eval config (`needlework export lm-eval`), and lm-eval's per-sample output read back into a needlework eval
folder (`needlework import lm-eval`), so `compare` and the report work on runs lm-eval made (any model type:
hf, vllm, sglang, API models)."""

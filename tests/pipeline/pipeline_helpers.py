"""A miniature run config: the tiny random Llama, a handful of samples, every stage (seconds per run)."""
from __future__ import annotations

def mini_config(tiny_model_dir, root, **changes) -> dict:
    cfg = {
        "name": "mini", "root": str(root), "seeds": [0], "arm": "kv",
        "data": {"task": "simple_kv", "n": 4, "tokenizer": str(tiny_model_dir), "chat_template": True,
                 "params": {"num_dict": 2, "template": True}},
        "train": {"model": str(tiny_model_dir), "epochs": 1.0, "global_batch": 2, "batch_size": 2, "lr": 1e-3,
                  "progress": False, "save_steps": 1, "max_length": 512, "params": "attention"},
        "precision": "fp32",   # whatever the CPU: the tests compare numbers
        "eval": {"benchmarks": ["kv-retrieval", "mdqa"], "batch_size": 4,
                 "kv_retrieval": {"n": 3, "positions": [1, 2], "num_dicts": [2], "max_new_tokens": 6},
                 "mdqa": {"k": 3, "positions": [1, 3], "n": 2, "max_new_tokens": 6}},
        "backend": {"kind": "hf", "progress": False, "hf": {"batch_size": 4}},
        "report": {"loss_map_n": 1},
        "estimate": {"measure": False},   # tests of measuring are in test_measure.py
    }
    for key, value in changes.items():
        cur = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = value
    return cfg

"""The one place where tasks are registered by name."""
from __future__ import annotations

from . import mdqa_train, multi_subkey_kv, niah, simple_kv
from .base import Task, register

register(Task(simple_kv.NAME, simple_kv.SimpleKVConfig, simple_kv.generate,
              "simple dictionary key-value retrieval (paper Alg. 2)", needs_budget=True))
register(Task(multi_subkey_kv.NAME, multi_subkey_kv.MultiSubkeyKVConfig, multi_subkey_kv.generate,
              "multi-subkey dictionary key-value retrieval (paper Alg. 4)", needs_budget=True))
register(Task(niah.NAME, niah.NIAHConfig, niah.generate,
              "needle-in-a-haystack in Paul Graham essays (baseline, paper §3.4)", needs_budget=True))
register(Task(mdqa_train.NAME, mdqa_train.MDQATrainConfig, mdqa_train.generate,
              "multi-document QA training samples from the NQ train split (baseline, paper §3.4)"))

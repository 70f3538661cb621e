"""The GPU memory table: hand-computed figures for Mistral-7B, sharding, and the warning when GPUs are too small."""
from __future__ import annotations

import pytest

from needlework.pipeline.memory import KNOWN_CONFIGS, eval_gib, memory_lines, memory_table, parameter_counts, training_gib

MISTRAL = KNOWN_CONFIGS["mistralai/Mistral-7B-Instruct-v0.1"]


def test_parameter_counts_match_mistral_7b():
    total, trainable, _ = parameter_counts(MISTRAL, "attention")
    assert total == pytest.approx(7.24e9, rel=0.005)               # the published 7.24B
    assert trainable == 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024)     # q, o and GQA k, v of 32 layers
    assert parameter_counts(MISTRAL, "lora", 16)[1] == 32 * 16 * (6 * 4096 + 2 * 1024)


def test_training_and_evaluation_by_hand():
    total, trainable, layer = parameter_counts(MISTRAL, "attention")
    states = 4 * total + 12 * trainable
    acts = 32 * 4608 * 4096 * 2 + 4608 * (10 * 4096 + 3 * 14336) * 2
    assert training_gib(MISTRAL, 4608) == pytest.approx((states + acts) / 2**30 + 2.0)
    no_ckpt = 32 * 4608 * (10 * 4096 + 3 * 14336) * 2
    assert training_gib(MISTRAL, 4608, checkpointing=False) == pytest.approx((states + no_ckpt) / 2**30 + 2.0)
    assert training_gib(MISTRAL, 4608, gpus=8, sharded=True) == pytest.approx(
        (states / 8 + 2 * layer + acts) / 2**30 + 2.0)
    kv = 2 * 32 * 8 * 128 * 4608 * 16 * 2
    assert eval_gib(MISTRAL, 4608, 16) == pytest.approx((2 * total + kv) / 2**30 + 2.0)


def test_table_rows_and_a_warning_where_the_gpus_are_too_small():
    rows = memory_table(MISTRAL, [4608, 24576], params="attention", lora_r=16, batch=1, checkpointing=True,
                        eval_batch=16)
    assert [(r["layout"], r["tokens"]) for r in rows][:2] == [("1 GPU", 4608), ("1 GPU", 24576)]
    fsdp = [r for r in rows if r["layout"] == "8 GPUs, FSDP"]
    ddp = [r for r in rows if r["layout"] == "8 GPUs, DDP"]
    assert all(f["train_gib"] < d["train_gib"] / 3 for f, d in zip(fsdp, ddp))
    text = "\n".join(memory_lines(rows, [40.0] * 8, True))
    assert "WARNING: 1 GPU at 4,608 tokens needs ~46 GiB per GPU; the 8 GPU(s) here have 40 GiB" in text
    assert "8 GPUs, FSDP at 4,608" not in text.split("WARNING", 1)[1]
    assert "WARNING" not in "\n".join(memory_lines(rows, [141.0], True))
    assert "WARNING" not in "\n".join(memory_lines(rows, [], True))   # no GPU here: the table alone

"""Fixtures for training tests: small KV data files in both row shapes."""
from __future__ import annotations

import pytest
from train_helpers import make_rows


@pytest.fixture(scope="session")
def kv_file(tmp_path_factory):
    from needlework.io import write_jsonl
    path = tmp_path_factory.mktemp("data") / "kv8.jsonl"
    write_jsonl(path, make_rows(8))
    return path


@pytest.fixture(scope="session")
def kv_file_pc(tmp_path_factory):
    from needlework.io import write_jsonl
    path = tmp_path_factory.mktemp("data") / "kv8_pc.jsonl"
    write_jsonl(path, make_rows(8, "prompt_completion"))
    return path


@pytest.fixture(scope="session")
def tiny_fast_model_dir(tmp_path_factory, smollm2_tokenizer_dir):
    """The tiny Llama with initializer_range 0.2 instead of 0.02. With a 49K-token tied head, logits of a
    0.02-initialised 64-wide model move too little per Adam step for 30 steps to reach near-zero loss
    (measured: ~1.4 at best); a 10x wider initialisation reaches ~0.001 at lr 1e-2."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-fast-model")
    tok = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id,
                      tie_word_embeddings=True, initializer_range=0.2)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out

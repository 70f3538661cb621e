"""Impossible settings are refused before any work, under the key the user wrote (issue 32): empty grids,
negative epochs, NaN / inf, out-of-range depths and seeds, a device that is not there, a model whose config does
not match its weights or whose vocabulary is smaller than its tokenizer, YAML nested past a sane depth; YAML
merge keys work."""
from __future__ import annotations

import json
import shutil

import pytest

from needlework.config import ConfigError, load_yaml
from needlework.models import ModelNotAvailable, load_causal_lm
from needlework.pipeline import load_preset


@pytest.mark.parametrize("override, named", [
    ("eval.kv_retrieval.depths=[]", "eval.kv_retrieval.depths is empty"),
    ("eval.kv_retrieval.num_dicts=[]", "eval.kv_retrieval.num_dicts is empty"),
    ("eval.kv_retrieval.depths=[-0.5]", "eval.kv_retrieval.depths are fractions of the context in [0, 1]"),
    ("eval.kv_retrieval.positions=[0]", "eval.kv_retrieval.positions are 1-based"),
    ("train.epochs=-2", "train.epochs must be positive"),
    ("train.lr=.nan", "train.lr: nan is not a finite number"),
    ("train.lr=.inf", "train.lr: inf is not a finite number"),
    ("seeds=[1180591620717411303424]", "seeds[0]: 1180591620717411303424 is out of range"),
    ("seeds=[-1]", "seeds[0]: -1 is out of range"),
    ("eval.seed=4294967296", "seed: 4294967296 is out of range"),
    ("device=gpu", "device must be auto, cpu or cuda for a run"),
])
def test_a_run_refuses_it_in_the_dry_run(override, named):
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        load_preset("cpu-demo", [override])


def test_cuda_on_a_machine_without_one_is_an_error_not_a_cpu_run(monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"^device=cuda: torch sees no CUDA GPU"):
        load_preset("cpu-demo", ["device=cuda"])
    from needlework.backends import BackendConfig, HFBackendConfig
    with pytest.raises(ConfigError, match=r"^backend\.hf\.device=cuda:1: torch sees no CUDA GPU"):
        BackendConfig(model="m", hf=HFBackendConfig(device="cuda:1")).validate()


def test_yaml_nested_thousands_deep_is_one_error(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("x: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested 5000 levels deep; at most 64"):
        load_yaml(f)


def test_yaml_merge_keys_are_supported_and_duplicates_still_refused(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("base: &b\n  lr: 1.0\n  epochs: 2\ntrain:\n  <<: *b\n  lr: 3.0\n")
    assert load_yaml(f)["train"] == {"lr": 3.0, "epochs": 2}
    f.write_text("train:\n  lr: 1\n  lr: 2\n")
    with pytest.raises(ConfigError, match="the key 'lr' is given twice"):
        load_yaml(f)


def test_a_config_of_another_architecture_over_the_weights_is_refused(tmp_path, tiny_model_dir):
    """A GPT-2 config.json over Llama weights loaded every tensor as "missing" and ran with random weights."""
    from transformers import GPT2Config
    m = tmp_path / "m"
    shutil.copytree(tiny_model_dir, m)
    GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=json.loads((m / "config.json").read_text())["vocab_size"]
               ).save_pretrained(m)
    with pytest.raises(ModelNotAvailable, match="config.json does not match its weights"):
        load_causal_lm(str(m))


def test_a_vocabulary_smaller_than_the_tokenizer_is_refused(tmp_path, tiny_model_dir):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    cfg = LlamaConfig(vocab_size=len(tok) - 10, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    with pytest.raises(ModelNotAvailable, match=rf"vocabulary \({len(tok) - 10} embeddings\) is smaller than its "
                                                rf"tokenizer \({len(tok)} tokens\)"):
        load_causal_lm(str(tmp_path / "m"))


def test_the_tiny_model_itself_loads(tiny_model_dir):
    assert load_causal_lm(str(tiny_model_dir)) is not None

"""`needlework generate --format datasets`: a `datasets.load_from_disk` folder of TRL prompt/completion rows with
the samples' meta as columns, one split per mixture component or length; TRL's SFTTrainer with
`completion_only_loss=True` trains on it with exactly needlework's answer-only loss mask."""
from __future__ import annotations

import math

import pytest

from needlework.config import ConfigError, from_dict
from needlework.tasks.files.dataset import GenerateConfig, generate_file
from needlework.train.masking import IGNORE, encode


def _generate(tmp_path, name="ds", **cfg):
    cfg = from_dict(GenerateConfig, {"task": "simple_kv", "n": 6, "format": "datasets", "out": str(tmp_path / name),
                                     **cfg})
    return generate_file(cfg, progress=False)


def test_the_folder_loads_with_its_meta_columns(tmp_path, tiny_model_dir):
    from datasets import load_from_disk
    from needlework.tasks.files.dataset import SampleMaker
    cfg = {"tokenizer": str(tiny_model_dir), "params": {"num_dict": 3, "gold_position": [1, 2, 3]}}
    data = load_from_disk(str(_generate(tmp_path, **cfg)))
    assert list(data) == ["train"] and data["train"].num_rows == 6
    gen = SampleMaker(from_dict(GenerateConfig, {"task": "simple_kv", "n": 6, **cfg}))
    for i, row in enumerate(data["train"]):
        s = gen.sample(i)
        assert row["prompt"] == [{"role": "user", "content": s.prompt}]
        assert row["completion"] == [{"role": "assistant", "content": s.answer}]
        assert row["gold_dict"] == s.meta["gold_dict"] == [1, 2, 3][i % 3] and row["n_tokens"] == s.meta["n_tokens"]
    assert (tmp_path / "ds.provenance.json").exists()


def test_a_mixture_has_one_split_per_component_and_plain_rows_are_text(tmp_path):
    from datasets import load_from_disk
    mix = [{"task": "simple_kv", "weight": 1, "name": "short", "params": {"num_dict": 3}},
           {"task": "simple_kv", "weight": 1, "name": "long", "params": {"num_dict": 6}}]
    data = load_from_disk(str(_generate(tmp_path, task="mixture", mixture=mix, n=12, format="datasets_plain")))
    assert sorted(data) == ["long", "short"] and sum(d.num_rows for d in data.values()) == 12
    assert set(data["short"]["num_dict"]) == {3} and set(data["long"]["num_dict"]) == {6}
    row = data["short"][0]
    assert not row["prompt"].endswith("\n") and row["completion"].startswith(" The value of key")   # as training joins them


def test_a_file_path_or_a_foreign_folder_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="writes a folder"):
        _generate(tmp_path, name="ds.jsonl")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match="no datasets folder"):
        _generate(tmp_path, name="mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_trl_trains_on_the_rows_with_needleworks_answer_only_mask(tmp_path, tiny_model_dir):
    import torch
    from datasets import load_from_disk
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    folder = _generate(tmp_path, n=8, params={"num_dict": 3, "gold_position": [1, 3]})
    rows = load_from_disk(str(folder))["train"]
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    args = SFTConfig(output_dir=str(tmp_path / "trl"), completion_only_loss=True, packing=False, max_length=2048,
                     per_device_train_batch_size=2, max_steps=4, learning_rate=1e-3, seed=0, data_seed=0,
                     use_cpu=True, save_strategy="no", logging_steps=1, report_to="none", disable_tqdm=True,
                     dataloader_num_workers=0, dataloader_pin_memory=False)
    trainer = SFTTrainer(model=model, args=args, train_dataset=rows, processing_class=tok)
    for row, theirs in zip(rows, trainer.train_dataset):
        ours = encode(tok, row["prompt"][0]["content"], row["completion"][0]["content"])
        labels = trainer.data_collator([theirs])["labels"][0].tolist()
        assert list(theirs["input_ids"]) == ours.input_ids
        assert labels == ours.labels   # -100 on every prompt token, the ids from the first answer token on
        assert labels.count(IGNORE) == ours.answer_start
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 4 and all(math.isfinite(x) for x in losses)

"""Fine-tune the bundled SmolLM2-135M for a few steps on CPU, reload the result, check what changed."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from train_helpers import make_rows

from needlework.io import read_jsonl, write_jsonl
from needlework.train import TrainConfig, run_training


@pytest.mark.integration
def test_smollm2_few_steps_and_reload(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from needlework.models import ensure_bundled
    base = ensure_bundled("smollm2-135m-instruct")
    data = tmp_path / "kv.jsonl"
    write_jsonl(data, make_rows(4, num_dict=3))
    out = run_training(TrainConfig(model="smollm2-135m-instruct", data=[str(data)], out=str(tmp_path / "ft"),
                                   params="attention", lr=1e-4, global_batch=2, batch_size=2, max_steps=3,
                                   save_steps=2, progress=False))
    log = list(read_jsonl(out / "train_log.jsonl"))
    assert [r["step"] for r in log] == [1, 2, 3] and all(r["loss"] < 5 for r in log)
    assert (out / "loss_curve.png").stat().st_size > 1000
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.chat_template
    before, after = load_file(base / "model.safetensors"), load_file(out / "model.safetensors")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.split(".")[-2] in ("q_proj", "k_proj", "v_proj", "o_proj") for k in changed)
    ids = tok.apply_chat_template([{"role": "user", "content": make_rows(1)[0]["messages"][0]["content"]}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    gen = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert gen.shape[1] > ids["input_ids"].shape[1]

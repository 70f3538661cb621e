"""The head-at-answer-positions loss equals the ordinary full-logits loss; parameter policies freeze the right things."""
from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from needlework.train.config import LoraConfig
from needlework.train.batches import EncodedDataset, LeftPadCollator, pad_id, read_rows
from needlework.train.loss import answer_loss_sum
from needlework.train.params import apply_policy, count_parameters

PROJ = ("q_proj", "k_proj", "v_proj", "o_proj")


def _load(model_dir):
    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32), AutoTokenizer.from_pretrained(model_dir)


def test_answer_only_loss_equals_full_logits_loss(tiny_model_dir, kv_file):
    model, tok = _load(tiny_model_dir)
    model.eval()
    ds = EncodedDataset(read_rows([str(kv_file)]), tok)
    items = [ds[i] for i in range(4)]
    # Reference: each sample alone, full logits, the model's own (shifted, -100-ignoring) loss, summed by tokens.
    ref_sum, ref_n = 0.0, 0
    for it in items:
        ids, labels = torch.tensor([it["input_ids"]]), torch.tensor([it["labels"]])
        n = int((labels[:, 1:] != -100).sum())
        with torch.no_grad():
            ref_sum += float(model(input_ids=ids, labels=labels).loss) * n
        ref_n += n
    # Ours: one left-padded batch, LM head only at the answer window.
    batch = LeftPadCollator(pad_id(tok))(items)
    assert len({len(it["input_ids"]) for it in items}) > 1, "want samples of different lengths (real padding)"
    batch.pop("sample_index")
    with torch.no_grad():
        loss_sum, n = answer_loss_sum(model, batch)
    assert n == ref_n
    torch.testing.assert_close(float(loss_sum) / n, ref_sum / ref_n, rtol=1e-5, atol=1e-5)


def test_answer_only_gradients_equal_full_logits_gradients(tiny_model_dir, kv_file):
    model, tok = _load(tiny_model_dir)
    ds = EncodedDataset(read_rows([str(kv_file)]), tok)
    it = ds[0]
    ids, labels = torch.tensor([it["input_ids"]]), torch.tensor([it["labels"]])
    model(input_ids=ids, labels=labels).loss.backward()
    ref = model.model.layers[0].self_attn.q_proj.weight.grad.clone()
    model.zero_grad()
    batch = LeftPadCollator(pad_id(tok))([it])
    batch.pop("sample_index")
    s, n = answer_loss_sum(model, batch)
    (s / n).backward()
    torch.testing.assert_close(model.model.layers[0].self_attn.q_proj.weight.grad, ref, rtol=1e-4, atol=1e-6)


def test_attention_policy_freezes_all_but_attention_projections(tiny_model_dir):
    model, _ = _load(tiny_model_dir)
    apply_policy(model, "attention")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert trainable and all(".self_attn." in n and n.split(".")[-2] in PROJ for n in trainable)
    layers = model.config.num_hidden_layers
    assert len(trainable) == layers * 4   # q, k, v, o weights (Llama has no attention biases)
    assert any("embed_tokens" in n for n in frozen) and any("mlp" in n for n in frozen)
    assert any("norm" in n for n in frozen)


def test_full_and_lora_policies(tiny_model_dir):
    model, _ = _load(tiny_model_dir)
    apply_policy(model, "full")
    t, total = count_parameters(model)
    assert t == total
    model, _ = _load(tiny_model_dir)
    lora = apply_policy(model, "lora", LoraConfig(r=4, alpha=8))
    names = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in names} == set(PROJ)
    model, _ = _load(tiny_model_dir)
    lora = apply_policy(model, "lora", LoraConfig(r=4, alpha=8, target_modules=["q_proj", "v_proj"]))
    names = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in names} == {"q_proj", "v_proj"}

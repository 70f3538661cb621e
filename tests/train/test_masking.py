"""Answer-only labels: -100 exactly on the prompt's tokens, checked token by token."""
from __future__ import annotations

import re

import pytest
from transformers import AutoTokenizer

from needlework.train.batches import EncodedDataset, read_rows
from needlework.train.masking import IGNORE, MaskingError, SequenceTooLong, encode

PROMPT = "Report the value of key 5600 and the dictionary it is in."
ANSWER = "The value of key 5600 is 3428 and it is in Dictionary [3]."


def test_chatml_labels_mask_exactly_the_prompt(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    enc = encode(tok, PROMPT, ANSWER)
    prompt_text = tok.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True,
                                          tokenize=False)
    full_text = tok.apply_chat_template([{"role": "user", "content": PROMPT}, {"role": "assistant", "content": ANSWER}],
                                        tokenize=False)
    assert full_text.startswith(prompt_text)
    n_prompt = len(tok(prompt_text, add_special_tokens=False)["input_ids"])
    assert enc.input_ids == tok(full_text, add_special_tokens=False)["input_ids"]
    for i, (tid, lab) in enumerate(zip(enc.input_ids, enc.labels)):
        if i < n_prompt:
            assert lab == IGNORE, f"prompt token {i} ({tok.decode([tid])!r}) is not masked"
        else:
            assert lab == tid, f"target token {i} ({tok.decode([tid])!r}) is masked or wrong"
    # The first target is the answer's first token; the end-of-turn marker is a target too.
    assert tok.decode(enc.input_ids[n_prompt:enc.answer_end]) == ANSWER
    assert "<|im_end|>" in tok.decode(enc.input_ids[enc.answer_end:])


def test_system_message_is_prompt(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    enc = encode(tok, PROMPT, ANSWER, system="Write a response that appropriately completes the request.")
    n = enc.answer_start
    assert "appropriately completes" in tok.decode(enc.input_ids[:n])
    assert all(lab == IGNORE for lab in enc.labels[:n]) and all(lab != IGNORE for lab in enc.labels[n:])


def test_plain_concatenation_without_template(tiny_model_no_template_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_no_template_dir)
    assert not tok.chat_template
    enc = encode(tok, PROMPT, ANSWER)
    head = tok(PROMPT, add_special_tokens=False)["input_ids"]   # the prompt as evaluation sends it
    bos = [tok.bos_token_id] if getattr(tok, "add_bos_token", False) and tok.bos_token_id is not None else []
    n = len(bos) + len(head)
    assert enc.input_ids[:n] == bos + head
    assert enc.input_ids[-1] == tok.eos_token_id
    for i, (tid, lab) in enumerate(zip(enc.input_ids, enc.labels)):
        assert lab == (IGNORE if i < n else tid), f"token {i} ({tok.decode([tid])!r})"
    assert tok.decode(enc.input_ids[n:-1]) == " " + ANSWER   # written on the prompt's line, as a base model does


def test_too_long_is_a_clear_error_not_truncation(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    with pytest.raises(SequenceTooLong, match="exceed max_length=20"):
        encode(tok, PROMPT, ANSWER, max_length=20, where="data.jsonl:7")


def test_empty_answer_and_non_prefix_fail(tiny_model_no_template_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_no_template_dir)
    with pytest.raises(MaskingError, match="empty answer"):
        encode(tok, PROMPT, "")
    # A tokenizer that merges the prompt's last character with the separator across the boundary.
    with pytest.raises(MaskingError, match="not a prefix"):
        encode(_MergingTokenizer(), "ab", "cd")


class _MergingTokenizer:
    """Char-level, except that a character and the space after it form one token."""
    chat_template, bos_token_id, eos_token_id = None, None, 0

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [hash(t) % 1000 + 1 for t in re.findall(r"[^ ] |.", text, flags=re.S)]}


def test_dataset_reads_both_shapes(tiny_model_dir, kv_file, kv_file_pc):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    a = EncodedDataset(read_rows([str(kv_file)]), tok)
    b = EncodedDataset(read_rows([str(kv_file_pc)]), tok)
    assert len(a) == len(b) == 8
    assert a[0]["input_ids"] == b[0]["input_ids"] and a[0]["labels"] == b[0]["labels"]

"""Retrieval score (Wu et al. 2024): arithmetic on a hand-made attention tensor, needle/step location on
real samples, and a tiny model with one planted copying head that the score must single out."""
from __future__ import annotations

import pytest
import torch
from planted_heads import HEADS, LAYERS, PLANTED, needle_rows, planted_model

from needlework.probes.retrieval_heads import answer_steps, head_hits, retrieval_scores


def test_head_hits_counts_argmax_on_the_needle_copy_of_the_produced_token():
    context_ids = torch.tensor([5, 7, 8, 9, 7])       # needle = positions 1..3 ("7 8 9"); a stray 7 at 4
    needle = torch.tensor([False, True, True, True, False])
    targets = torch.tensor([7, 8, 9])                  # the three tokens produced
    attn = torch.zeros(2, 2, 3, 5)
    attn[0, 0, torch.arange(3), torch.tensor([1, 2, 3])] = 1.0   # always the needle copy: 3 hits
    attn[0, 1, torch.arange(3), torch.tensor([4, 2, 0])] = 1.0   # stray 7 (outside needle), hit, sink: 1 hit
    attn[1, 0, torch.arange(3), torch.tensor([2, 1, 3])] = 1.0   # in the needle but the wrong token twice: 1 hit
    attn[1, 1, :, 0] = 0.6                                        # the sink is the argmax: 0 hits
    attn[1, 1, :, 1] = 0.4
    assert head_hits(attn, context_ids, targets, needle).tolist() == [[3, 1], [1, 0]]


def test_answer_steps_find_the_gold_value_in_prompt_and_answer(smollm2_tokenizer_dir):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    prompt = "Dictionary [1] {67: 10, 12: 345, 89: 7}\nDictionary [2] {67: 345}\nReport the value of key 67."
    steps = answer_steps(tok, None, prompt, "The value of key 67 is 345.", {"gold_key": 67, "gold_value": 345})
    ids = steps.input_ids
    assert [tok.decode([ids[p]]) for p in steps.needle] == ["3", "4", "5"]
    assert tok.decode(ids[steps.needle[0] - 4:steps.needle[0]]) == "67: "   # the gold key's copy, not 12's
    assert [tok.decode([ids[p]]) for p in steps.positions] == ["3", "4", "5"]
    assert all(p >= steps.context for p in steps.positions) and all(p < steps.context for p in steps.needle)
    # no gold value in meta (niah, mdqa): the answer itself is the needle when the prompt holds it verbatim
    niah = answer_steps(tok, None, "grass. The magic number is 42. sky.\nWhat is the magic number?",
                        "The magic number is 42.", {})
    assert tok.decode([niah.input_ids[p] for p in niah.needle]) == " The magic number is 42."
    assert tok.decode([niah.input_ids[p] for p in niah.positions]) == " magic number is 42."   # "The" != " The"
    missing = answer_steps(tok, None, "no value here", "It is 345.", {"gold_value": 345}, where="row 3")
    assert missing.skipped == "row 3: gold value not found in the prompt" and not missing.positions


@pytest.fixture(scope="module")
def tok(smollm2_tokenizer_dir):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)


def test_retrieval_score_finds_the_planted_copying_head(tok):
    res = retrieval_scores(planted_model(tok), tok, needle_rows(4))
    scores = torch.tensor(res["scores"])
    assert scores.shape == (LAYERS, HEADS)
    assert res["samples"] == 4 and res["steps"] == sum(len(r["meta"]["gold_value"]) for r in needle_rows(4))
    layer, head = PLANTED
    assert scores[layer, head] == 1.0
    others = scores.clone()
    others[layer, head] = -1
    assert others.max() < 0.3, res["scores"]


def test_without_the_planted_query_the_head_scores_nothing(tok):
    res = retrieval_scores(planted_model(tok, plant=False), tok, needle_rows(4))
    assert res["scores"][PLANTED[0]][PLANTED[1]] == 0.0

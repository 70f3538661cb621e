"""A tiny Llama with ONE attention head planted to copy, and needle data it copies from.

The retrieval score inspects the query that PRODUCES answer token p, i.e. position p - 1 (Wu et al.'s
decoding loop). So the planted head (layer PLANTED[0], head PLANTED[1]) attends from each token to the
context position holding the token that FOLLOWS it in the needle: its keys are one-hot token classes, its
query maps a class to the class of its successor (digit d -> d + 1, and the token just before the value in
the answer -> the value's first digit "1"). Needles are runs "123...", the haystack has no digits, so the
needle's copy of the produced token is the only key that matches.

How the weights make that exact: the token classes get one-hot directions in hidden dims 0..15 (all other
embeddings are zero there) and no layer writes into those dims (o_proj / down_proj rows zeroed), so every
layer's normed input carries the class intact. The head's q/k use only head dims 8..15 and 24..31, the RoPE
pairs whose frequency is below 1e-6 with rope_theta=1e12: rotation by position is nil, matching is on
content alone. Every other head keeps its random initialisation.
"""
from __future__ import annotations

import random

LAYERS, HEADS, KV_HEADS, HEAD_DIM, HIDDEN = 3, 4, 2, 32, 128
PLANTED = (1, 2)                          # (layer, head)
CONTENT_DIMS = list(range(8, 16)) + list(range(24, 32))   # near-zero-frequency RoPE pairs of a 32-wide head
WORDS = "apple river stone cloud amber field lantern maple orbit velvet harbor quiet meadow copper".split()


def needle_rows(n: int = 4, seed: int = 0) -> list[dict]:
    """Samples whose gold value is the digit run '12...k' placed once in a digit-free haystack."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        value = "123456789"[:4 + i % 5]
        before = " ".join(rng.choice(WORDS) for _ in range(20 + 5 * i))
        after = " ".join(rng.choice(WORDS) for _ in range(15))
        rows.append({"system": None, "where": f"needle {i}",
                     "prompt": f"{before}. The secret code is {value}. {after}.\nWhat is the secret code?",
                     "answer": f"The secret code is {value}.", "meta": {"gold_value": value}})
    return rows


def _token(tok, text: str) -> int:
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == 1, (text, ids)
    return ids[0]


def planted_model(tok, *, plant: bool = True):
    """The model (eager attention, eval mode). plant=False builds the same model with the head's query left
    zero (uniform attention: it copies nothing), the 'before' of a before/after comparison."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=HIDDEN, intermediate_size=128, num_hidden_layers=LAYERS,
                      num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM,
                      max_position_embeddings=4096, rope_parameters={"rope_type": "default", "rope_theta": 1e12},
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id,
                      tie_word_embeddings=False)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    model.set_attn_implementation("eager")
    digits = [_token(tok, str(d)) for d in range(1, 10)]
    space = _token(tok, " ")          # SmolLM2 splits digits, so "is 123" is "is", " ", "1", "2", "3"
    classes = digits + [space]                               # class k -> hidden dim k, head dim CONTENT_DIMS[k]
    successor = {space: digits[0], **{digits[d]: digits[d + 1] for d in range(8)}}
    layer, head = PLANTED
    kv = head // (HEADS // KV_HEADS)
    with torch.no_grad():
        emb = model.model.embed_tokens.weight
        emb[:, :16] = 0.0
        for k, t in enumerate(classes):
            emb[t] = 0.0
            emb[t, k] = 1.0
        for block in model.model.layers:                     # nothing overwrites the class dims
            block.self_attn.o_proj.weight[:16] = 0.0
            block.mlp.down_proj.weight[:16] = 0.0
        attn = model.model.layers[layer].self_attn
        q = attn.q_proj.weight[head * HEAD_DIM:(head + 1) * HEAD_DIM]
        k_ = attn.k_proj.weight[kv * HEAD_DIM:(kv + 1) * HEAD_DIM]
        q.zero_()
        k_.zero_()
        for k, t in enumerate(classes):
            k_[CONTENT_DIMS[k], k] = 1.0
            if plant and t in successor:
                q[CONTENT_DIMS[classes.index(successor[t])], k] = 1.0
    return model.eval()

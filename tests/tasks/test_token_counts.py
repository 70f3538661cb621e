"""Exact token counts: the piece shortcut equals full tokenisation for >= 500 samples per tokenizer, and
budgets are honoured."""
import io

import pytest

from needlework.config import ConfigError
from needlework.tasks.files.dataset import GenerateConfig, SampleMaker
from needlework.tasks.tokenization.tokens import TokenCounter, from_sentencepiece, from_tiktoken, load_counting_tokenizer


def _prompts(task, n, seed=0, **params):
    gen = SampleMaker(GenerateConfig(task=task, n=n, seed=seed, params=params))
    return [gen.sample(i).prompt for i in range(n)]


@pytest.fixture(scope="module")
def kv_prompts():
    # 85-dictionary simple prompts and 49-dictionary multi-subkey prompts, both with and without template
    return (_prompts("simple_kv", 150) + _prompts("simple_kv", 150, seed=1, template=False)
            + _prompts("multi_subkey_kv", 120) + _prompts("multi_subkey_kv", 100, seed=2, template=False))


def _assert_exact(counter, prompts):
    assert counter.self_check(prompts[:10]) == []
    assert counter.mode == "pieces"
    bad = [i for i, p in enumerate(prompts) if counter(p) != counter.full_count(p)]
    assert bad == [], f"{len(bad)} mismatches"


@pytest.mark.parametrize("chat", [False, True])
def test_smollm2_counts_equal_the_tokenizer(kv_prompts, smollm2_tokenizer_dir, chat):
    assert len(kv_prompts) >= 500
    counter = TokenCounter(load_counting_tokenizer(str(smollm2_tokenizer_dir)), chat_template=chat)
    _assert_exact(counter, kv_prompts)
    # and the count is really what the model sees: the tokenizer over the chat-rendered text
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    p = kv_prompts[0]
    if chat:
        ids = tok.apply_chat_template([{"role": "user", "content": p}], tokenize=True, add_generation_prompt=True)
        ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    else:
        ids = tok(p)["input_ids"]
    assert counter(p) == len(ids)


@pytest.fixture(scope="module")
def sentencepiece_model(tmp_path_factory):
    """A small Llama-style SentencePiece BPE model (byte fallback, split digits) trained on essay + KV text."""
    import sentencepiece as spm

    from needlework.real_data import load_essays
    lines = load_essays().split("\n")[:4000] + _prompts("simple_kv", 20, num_dict=20)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model, vocab_size=2000,
                                   model_type="bpe", byte_fallback=True, split_digits=True,
                                   character_coverage=1.0, max_sentence_length=100000)
    path = tmp_path_factory.mktemp("spm") / "tok.model"
    path.write_bytes(model.getvalue())
    return path


def test_sentencepiece_counts_equal_the_tokenizer(kv_prompts, sentencepiece_model):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=str(sentencepiece_model))
    counter = TokenCounter(from_sentencepiece(sp, "spm"))
    _assert_exact(counter, kv_prompts)
    assert counter(kv_prompts[0]) == len(sp.encode(kv_prompts[0])) + 1   # + BOS
    # the same file through the CLI-style spec
    assert TokenCounter(load_counting_tokenizer(str(sentencepiece_model)))(kv_prompts[0]) == counter(kv_prompts[0])


def test_tiktoken_style_regex_counts(kv_prompts):
    """cl100k's pre-tokenizer glues newlines to punctuation; counts must still be exact."""
    import tiktoken
    pat = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|"""
           r"""\s+(?!\S)|\s+""")
    ranks = {bytes([i]): i for i in range(256)}
    words = ["Dictionary", "Above", " is", " the", " value", " key", "\n\n", "}\n", "}\n\n", " {", "):", " (", ", "]
    for w in words + [f"{a}{b}" for a in range(10) for b in range(10)] + [f"{a}{b}{c}" for a in range(10) for b in range(10) for c in range(10)]:
        b = w.encode()
        for j in range(2, len(b) + 1):
            ranks.setdefault(b[:j], len(ranks))
    enc = tiktoken.Encoding("test-cl100k-like", pat_str=pat, mergeable_ranks=ranks, special_tokens={})
    _assert_exact(TokenCounter(from_tiktoken(enc, "tiktoken:test")), kv_prompts[:200])


def test_budgets(smollm2_tokenizer_dir):
    tok = str(smollm2_tokenizer_dir)
    gen = SampleMaker(GenerateConfig(task="simple_kv", tokenizer=tok, params={"max_tokens": 4096}))
    assert all(gen.sample(i).meta["n_tokens"] <= 4096 for i in range(20))
    gen = SampleMaker(GenerateConfig(task="simple_kv", tokenizer=tok, params={"target_tokens": 1000}))
    for i in range(10):
        s = gen.sample(i)
        assert s.meta["n_tokens"] == gen.counter.full_count(s.prompt)
        assert 1000 - 40 < s.meta["n_tokens"] <= 1000   # one more dictionary (< 40 tokens) would not fit
    gen = SampleMaker(GenerateConfig(task="niah", tokenizer=tok, params={"context_tokens": 700}))
    assert 600 < gen.sample(0).meta["n_tokens"] <= 700
    with pytest.raises(ConfigError, match="target_tokens"):
        SampleMaker(GenerateConfig(task="simple_kv", tokenizer=tok, params={"target_tokens": 60})).sample(0)
    with pytest.raises(ConfigError, match="max_tokens"):   # 85 dictionaries can never fit 500 tokens
        SampleMaker(GenerateConfig(task="simple_kv", tokenizer=tok, params={"max_tokens": 500})).sample(0)
    with pytest.raises(ConfigError, match="tokenizer"):
        SampleMaker(GenerateConfig(task="simple_kv", params={"target_tokens": 1000})).sample(0)


def test_unknown_tokenizer_is_refused():
    with pytest.raises(ConfigError, match="unknown tokenizer 'no/such-tokenizer'"):
        SampleMaker(GenerateConfig(tokenizer="no/such-tokenizer"))

"""FLenQA's "books" padding never comes from text a training arm sees: the NIAH baseline trains on one half of
the packaged essays and FLenQA pads with sentences of the other half only (the paper's Fig. 8 compares them)."""
from __future__ import annotations

import numpy as np

from needlework.evals.flenqa.benchmark import FLenQAConfig
from needlework.evals.flenqa.data import essay_sentences
from needlework.evals.registry import get_benchmark
from needlework.real_data import essay_part, load_essays
from needlework.tasks import generate_sample, get_task


def test_the_two_halves_partition_the_essays():
    from needlework.real_data import data_root
    files = sorted(p.name for p in (data_root() / "paul-graham-essays").glob("*.txt"))
    halves = {essay_part(f) for f in files}
    assert halves == {"haystack", "padding"}
    whole = load_essays()
    assert len(load_essays(None, "haystack")) + len(load_essays(None, "padding")) + 2 == len(whole)


def test_no_padding_sentence_is_in_niah_training_text():
    niah = get_task("niah")
    cfg = niah.config_cls(context_chars=6000)
    prompts = " ".join(" ".join(generate_sample(niah, cfg, 0, i).prompt.split()) for i in range(40))
    haystack = " ".join(load_essays(None, "haystack").split())
    pad = essay_sentences()
    assert len(pad) > 1000
    assert not [s for s in pad if s in haystack]
    assert not [s for s in pad if s in prompts]


def test_flenqa_books_padding_comes_from_the_padding_half():
    s = FLenQAConfig(n_base=2, lengths=[500], dispersions=["first"], paddings=["books"], tokenizer="words")
    items = get_benchmark("flenqa").build(s, 0)
    pad = set(essay_sentences())
    text = " ".join(" ".join((it.request.messages or [{"content": it.request.prompt}])[-1]["content"].split())
                    for it in items)
    used = [p for p in pad if p in text]
    assert len(used) >= 10                                  # the padding is essay text ...
    rng = np.random.default_rng(0)
    haystack_sents = [x for x in load_essays(None, "haystack").split(". ") if len(x.split()) > 8]
    sample = [haystack_sents[i] for i in rng.choice(len(haystack_sents), 200, replace=False)]
    assert not [x for x in sample if x in text]             # ... and none of it from the NIAH half

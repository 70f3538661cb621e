"""kv-retrieval evaluates any task that declares a score (Task.score / Task.metrics): the new families
through the same runner, buckets and headline metric as simple_kv."""
from __future__ import annotations

import json

import pytest

from needlework.backends.base import Completion
from needlework.config import ConfigError, load_config
from needlework.evals.kv_retrieval import EVAL_SEED_OFFSET, KVRetrievalConfig, metrics, scored_tasks
from needlework.evals.registry import get_benchmark
from needlework.evals.runner import EvalConfig, run_eval
from needlework.tasks import generate_sample, get_task

CASES = {"formatted_kv": {"key_format": "uuid", "value_format": "word", "render": "json", "n_queries": 2},
         "variable_tracking": {"hops": 3, "num_chains": 2}}


class OracleBackend:
    """Answers with the generator's own target for every `right(index)` sample, and nonsense otherwise."""
    name = "oracle"

    def __init__(self, s: KVRetrievalConfig, seed: int, right=lambda i: True):
        task, self.answers = get_task(s.task), {}
        for length in s.num_dicts:
            for p in s.positions:
                cfg = task.config_cls(**{**s.params, task.length_field: length, "gold_position": p})
                for i in range(s.n):
                    sample = generate_sample(task, cfg, EVAL_SEED_OFFSET + seed, i)
                    self.answers[sample.prompt] = sample.answer if right(i) else "I cannot tell."

    def context_length(self):
        return None

    def count_prompt_tokens(self, r):
        return 10

    def generate(self, requests):
        return [Completion(self.answers[r.messages[-1]["content"]], prompt_tokens=10) for r in requests]


def test_every_new_family_is_evaluable():
    assert {"simple_kv", "multi_subkey_kv", "formatted_kv", "variable_tracking"} <= set(scored_tasks())
    with pytest.raises(ConfigError, match="kv_retrieval.task must be one of"):
        KVRetrievalConfig(task="niah").validate()   # a task without a score is refused up front


@pytest.mark.parametrize("task", sorted(CASES))
def test_items_axes_and_scores(task):
    s = KVRetrievalConfig(task=task, n=3, num_dicts=[6], positions=[1, 4], params=CASES[task])
    items = get_benchmark("kv-retrieval").build(s, seed=0)
    assert len(items) == 6 and len({it.id for it in items}) == 6
    assert {it.axes["position"] for it in items} == {1, 4} and {it.axes["length"] for it in items} == {6}
    assert metrics(s) == get_task(task).metrics and metrics(s)[0] in ("value_acc", "answer_acc")
    oracle = OracleBackend(s, seed=0)
    for it in items:
        assert json.loads(json.dumps(it.gold)) == it.gold   # stored with the run: JSON-able
        right = oracle.answers[it.request.messages[0]["content"]]
        _, good = get_benchmark("kv-retrieval").score(it, right)
        _, bad = get_benchmark("kv-retrieval").score(it, "I cannot tell.")
        assert good[metrics(s)[0]] == 1.0 and bad[metrics(s)[0]] == 0.0
    line_or_dict = "gold_line" if task == "variable_tracking" else "gold_dict"
    assert [it.gold[line_or_dict] for it in items if it.axes["position"] == 4] == [4, 4, 4]


@pytest.mark.parametrize("task", sorted(CASES))
def test_runner_reports_the_tasks_headline_metric(task, tmp_path):
    s = KVRetrievalConfig(task=task, n=4, num_dicts=[6], positions=[1, 6], params=CASES[task])
    cfg = load_config(EvalConfig, None, [f"out={tmp_path / 'r'}", "model=oracle", "benchmarks=[kv-retrieval]",
                                         f"kv_retrieval.task={task}", "kv_retrieval.n=4", "kv_retrieval.num_dicts=[6]",
                                         "kv_retrieval.positions=[1,6]", f"kv_retrieval.params={json.dumps(CASES[task])}"])
    run = run_eval(cfg, backend=OracleBackend(s, seed=0, right=lambda i: i % 2 == 0))
    res = json.loads((run / "results.json").read_text())["benchmarks"]["kv-retrieval"]
    head = get_task(task).metrics[0]
    assert res["primary_metric"] == head
    assert [b["metrics"][head]["accuracy"] for b in res["buckets"]] == [0.5, 0.5]
    assert res["describe"]["length_axis"] == ("number of lines" if task == "variable_tracking"
                                              else "number of dictionaries")

"""`needlework import lm-eval`: lm-eval's per-sample output of exported tasks becomes an eval folder that
`needlework compare` and the report's verdicts read like `needlework eval`'s own; runs made with other settings
than the export asked for are refused. The lm-eval output here is written in lm-eval 0.4's file layout from the
exported documents (a base model that answers nothing, a fine-tuned one that answers every item)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from needlework.config import ConfigError
from needlework.evals.compare import compare
from needlework.evals.lm_eval_export.export import export_lm_eval
from needlework.evals.lm_eval_export.samples_import import import_lm_eval
from needlework.evals.registry import get_benchmark
from needlework.evals.base import Item
from needlework.io import read_jsonl, write_json, write_jsonl
from needlework.backends.base import Request

SECTIONS = {"benchmarks": ["kv-retrieval", "mdqa"],
            "kv_retrieval": {"n": 8, "num_dicts": [3], "depths": [0.0, 1.0], "max_new_tokens": 16},
            "mdqa": {"n": 8, "k": 3, "positions": [1, 3], "max_new_tokens": 16}}
DATE = "2026-01-02T03-04-05.678901"


class _FunctionTag(yaml.SafeLoader):
    """Reads an exported YAML's `!function utils.x` as its text."""


_FunctionTag.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


def _answer(doc: dict, right: bool) -> str:
    gold = json.loads(doc["gold_json"])
    if not right:
        return "I do not know."
    if doc["benchmark"] == "kv-retrieval":
        return f"The value of key {gold['gold_key']} is {gold['gold_value']} and it is in Dictionary [{gold['gold_dict']}]."
    return gold["answers"][0]


def fake_lm_eval_output(export: Path, out: Path, right: bool, chat_template: str | None = "{{ messages }}",
                        max_length: int = 4096) -> Path:
    """lm_eval --log_samples --output_path OUT's files for one model: samples_<task>_<date>.jsonl per task (the
    metrics computed by needlework's scorer, as the folder's utils.py does) and results_<date>.json."""
    folder = out / "__models__m"
    configs = {}
    for path in sorted(export.glob("needlework_*_*.yaml")):
        cfg = yaml.load(path.read_text(), Loader=_FunctionTag)
        if "task" not in cfg or "group" in cfg:
            continue
        configs[cfg["task"]] = cfg
        samples = []
        for i, doc in enumerate(read_jsonl(export / "data" / f"{cfg['task']}.jsonl")):
            text = _answer(doc, right)
            bench = get_benchmark(doc["benchmark"])
            item = Item(id=doc["id"], axes={}, request=Request(prompt=""), gold=json.loads(doc["gold_json"]))
            scores = bench.score(item, text)[1]
            samples.append({"doc_id": i, "doc": doc, "target": doc["target"], "arguments": [[doc["prompt"], {}]],
                            "resps": [[text]], "filtered_resps": [text], "filter": "none",
                            "metrics": list(scores), "doc_hash": "d", "prompt_hash": "p", "target_hash": "t",
                            **scores})
        write_jsonl(folder / f"samples_{cfg['task']}_{DATE}.jsonl", samples)
    write_json(folder / f"results_{DATE}.json", {
        "configs": configs, "chat_template": chat_template, "max_length": max_length, "lm_eval_version": "0.4.13",
        "model_name": "m", "config": {"model": "vllm", "model_args": {"pretrained": "m"}}})
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_model_dir):
    from needlework.config import from_dict
    from needlework.evals.runner import EvalConfig
    tmp = tmp_path_factory.mktemp("import")
    cfg = from_dict(EvalConfig, {"model": str(tiny_model_dir), "out": str(tmp / "run"), **SECTIONS})
    return cfg, export_lm_eval(cfg, tmp / "tasks")["folder"]


def test_the_eval_folder_holds_every_item_with_needlework_ids_and_scores(exported, tmp_path):
    cfg, export = exported
    out = import_lm_eval(fake_lm_eval_output(export, tmp_path / "lm", right=True), tmp_path / "ft")
    rows = list(read_jsonl(out / "samples.jsonl"))
    built = {it.id: it for name in cfg.benchmarks for it in get_benchmark(name).build(
        getattr(cfg, get_benchmark(name).section), cfg.seed)}
    assert sorted(r["item_id"] for r in rows) == sorted(built)
    for r in rows:
        assert r["bucket"] == built[r["item_id"]].bucket and r["axes"] == built[r["item_id"]].axes
        assert r["scores"][get_benchmark(r["benchmark"]).metrics(getattr(cfg, get_benchmark(r["benchmark"]).section))[0]] == 1.0
    results = json.loads((out / "results.json").read_text())["benchmarks"]
    assert results["kv-retrieval"]["overall"]["metrics"]["value_acc"]["accuracy"] == 1.0
    assert set(results["kv-retrieval"]["overall"]["metrics"]) == {"value_acc", "value_dict_acc", "answer_exact"}
    assert results["mdqa"]["describe"]["metric"].startswith("best-subspan exact match")
    assert "lm-evaluation-harness 0.4.13" in results["mdqa"]["describe"]["run_by"]


def test_compare_and_the_report_verdicts_read_imported_runs(exported, tmp_path):
    from needlework.report import write_report
    _, export = exported
    base = import_lm_eval(fake_lm_eval_output(export, tmp_path / "lm-base", right=False), tmp_path / "eval/base")
    ft = import_lm_eval(fake_lm_eval_output(export, tmp_path / "lm-ft", right=True), tmp_path / "eval/ft")
    table, _ = compare(base, ft, tmp_path / "cmp")
    assert "kv-retrieval  [value_acc]" in table and "mdqa  [best_subspan_em]" in table
    overall = [line for line in table.splitlines() if line.strip().startswith("overall ")]
    assert overall and all("+1.000" in line and "*" in line for line in overall)
    manifest = {"name": "lm-eval", "title": "lm-eval runs", "seeds": [0], "arms": ["kv"], "base_model": "m",
                "stages": [{"kind": "eval", "label": "base", "key": "0", "info": {"role": "base"}, "folder": "eval/base"},
                           {"kind": "eval", "label": "kv", "key": "0", "info": {"arm": "kv", "seed": 0},
                            "folder": "eval/ft"}]}
    rep = write_report(tmp_path, manifest, tmp_path / "report")
    rows = {r[1].split(",")[0]: r for r in rep["verdict"]["rows"]}
    # the made-up base scores 0 on MDQA: at the floor, claim 2's pool leaves it out as not testable
    assert rows["kv-retrieval"][5] == "better" and rows["MDQA"][5].startswith("not testable at this model size")
    assert "verdict at a glance" in (tmp_path / "report" / "report.html").read_text()


def test_a_run_without_the_chat_template_the_export_asked_for_is_refused(exported, tmp_path):
    _, export = exported
    with pytest.raises(ConfigError, match="with --apply_chat_template"):
        import_lm_eval(fake_lm_eval_output(export, tmp_path / "lm", right=True, chat_template=None), tmp_path / "x")


def test_a_run_with_a_shorter_window_is_refused(exported, tmp_path):
    _, export = exported
    with pytest.raises(ConfigError, match="max_length=2048, shorter than the 4096"):
        import_lm_eval(fake_lm_eval_output(export, tmp_path / "lm", right=True, max_length=2048), tmp_path / "x")


def test_the_command_imports(exported, tmp_path):
    from needlework.cli import main
    _, export = exported
    src = fake_lm_eval_output(export, tmp_path / "lm", right=True)
    assert main(["import", "lm-eval", str(src), "--out", str(tmp_path / "ev")]) == 0
    assert (tmp_path / "ev" / "results.json").exists()
    assert main(["import", "lm-eval", str(tmp_path / "nothing"), "--out", str(tmp_path / "ev2")]) == 2

"""The `utils.py` of an exported lm-eval task folder: `needlework export lm-eval` copies this file there verbatim.

It imports no needlework. The scoring rules are needlework's own source files, copied at export time into the
folder's `needlework_scoring/` package (text.py: best-subspan EM; evals/metrics.py: FLenQA's answer reading;
tasks/kv/answers.py: the key-value readers, with the answer templates they compare against), so the folder
scores exactly as the needlework that wrote it did, whether needlework is installed or not, and whatever
version is installed. One process that loads two exported folders scores both with the first one's copy.

Every document (one JSONL row) carries its benchmark, the gold data needlework's scorer reads (`gold_json`),
and its needlework item id, bucket and axes, so `needlework import lm-eval` turns lm-eval's per-sample output
back into a needlework eval folder.
"""
import importlib
import json
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
PACKAGE = "needlework_scoring"


def _scoring(module: str):
    if str(_HERE) not in sys.path:   # the copied package sits beside this file
        sys.path.insert(0, str(_HERE))
    return importlib.import_module(f"{PACKAGE}.{module}")


def _flenqa(text: str, gold: dict, cot: bool) -> dict:
    metrics = _scoring("evals.metrics")
    scores = {"accuracy": metrics.flenqa_correct(text, gold["label"])}
    if cot:   # the authors' CoT coverage: the share of key facts restated (normalised) in the output
        facts = gold.get("key_facts") or []
        out = metrics.normalize_flenqa(text)
        scores["cot_coverage"] = (sum(metrics.normalize_flenqa(f) in out for f in facts) / len(facts)
                                  if facts else 0.0)
    return scores


def score(benchmark: str, gold: dict, text: str) -> dict:
    """needlework's scores of one completion: {metric: value}."""
    if benchmark == "kv-retrieval":
        return _scoring("tasks.kv.answers").score(gold, text)
    if benchmark == "mdqa":
        return {"best_subspan_em": _scoring("text").best_subspan_em(text, gold["answers"])}
    if benchmark in ("flenqa", "flenqa-cot"):
        return _flenqa(text, gold, benchmark == "flenqa-cot")
    raise ValueError(f"unknown needlework benchmark {benchmark!r}")


def process_results(doc: dict, results: list) -> dict:
    """lm-eval's per-document hook: results[0] is the generated text (stop strings already cut off)."""
    return score(doc["benchmark"], json.loads(doc["gold_json"]), results[0])

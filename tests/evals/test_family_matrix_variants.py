"""Named variants in the family-matrix benchmark: one task in several formats is several families, and a
family counts as trained only when a training component fixes the same content settings."""
from __future__ import annotations

import pytest

from needlework.config import ConfigError
from needlework.evals.family_matrix import FamilyMatrixConfig, build

UUID_JSON = {"task": "formatted_kv", "params": {"key_format": "uuid", "value_format": "uuid", "render": "json"}}
WORD_JSON = {"task": "formatted_kv", "params": {"key_format": "word", "value_format": "word", "render": "json"}}


def _settings(**kw) -> FamilyMatrixConfig:
    return FamilyMatrixConfig(families=["simple_kv", "uuid-json", "word-json"], n=2, positions=[1], num_dicts=[3],
                            variants={"uuid-json": UUID_JSON, "word-json": WORD_JSON}, **kw)


def test_variants_build_their_own_items_with_unique_ids():
    items = build(_settings(), seed=0)
    fams = {}
    for it in items:
        fams.setdefault(it.axes["family"], []).append(it)
    assert set(fams) == {"simple_kv", "uuid-json", "word-json"}
    assert len({it.id for it in items}) == len(items) == 6
    assert all(it.id.startswith(f) for f, its in fams.items() for it in its)
    assert '"' in fams["uuid-json"][0].request.messages[0]["content"]          # JSON objects
    assert fams["uuid-json"][0].gold["task"] == "formatted_kv"


def test_trained_families_match_task_and_format_not_layout():
    s = _settings()
    # numeric dicts + UUID JSON at another length and without the template: both families trained
    comps = [("simple_kv", {"num_dict": 6}), ("formatted_kv", {**UUID_JSON["params"], "num_dict": 4, "template": False})]
    assert s.trained_families(comps) == ["simple_kv", "uuid-json"]
    # formatted_kv with words in Python dicts is neither JSON variant
    assert s.trained_families([("formatted_kv", {"key_format": "word", "value_format": "word"})]) == []


def test_a_malformed_variant_is_refused():
    with pytest.raises(ConfigError, match="family_matrix.variants.bad"):
        FamilyMatrixConfig(families=["bad"], variants={"bad": {"params": {}}}).validate()


@pytest.mark.parametrize("data, new", [({"benchmarks": ["transfer"]}, "'family-matrix'"),
                                       ({"transfer": {"n": 2}}, "eval.family_matrix")])
def test_the_old_benchmark_name_transfer_is_refused_naming_family_matrix(data, new):
    """The benchmark was called `transfer` (a word kept for claim 2): as a benchmark or a section it is refused in
    one line that names the new spelling, never mapped silently."""
    from needlework.config import from_dict
    from needlework.evals.runner import EvalConfig
    with pytest.raises(ConfigError) as e:
        from_dict(EvalConfig, {"model": "m", **data}, "eval").validate()
    assert new in str(e.value) and "\n" not in str(e.value)

"""`family-matrix`: one kv-retrieval-like evaluation per task family, so a run shows which families a fine-tune
improved -- those it trained on and those it never saw (held out).

    eval:
      benchmarks: [family-matrix]
      family_matrix: {families: [simple_kv, multi_subkey_kv], n: 30, num_dicts: [8], positions: [1, 4, 8]}

Each family's items are exactly kv-retrieval's for `task: <family>` (same prompts, seeds and answer parsing),
with the family as the bucket axis. Every family is scored on one metric, `acc`: that family's primary
kv-retrieval metric (value_acc for the dictionary tasks), so the columns of the report's family matrix
compare like with like. Base and fine-tuned models answer the same items (same seed), so the report pairs
them per item (report/family_matrix.py). Any family kv-retrieval evaluates can be listed here.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..config import ConfigError
from . import kv_retrieval
from .base import Benchmark, Item, ReportHook

METRIC = "acc"
# settings that place or size the needle rather than change its kind: they never make a different family
LAYOUT_SETTINGS = frozenset({"num_dict", "num_lines", "target_tokens", "max_tokens", "gold_position", "gold_depth",
                             "template", "position_bias"})


@dataclass
class FamilyMatrixConfig:
    families: list[str] = field(default_factory=lambda: ["simple_kv", "multi_subkey_kv"], metadata={
        "help": "Task families evaluated (task names, or names from `variants`)."})
    n: int = field(default=50, metadata={"help": "Items per family and gold position."})
    positions: list[int] | None = field(default=None, metadata={
        "help": "1-based gold dictionary indices; null: use depths."})
    depths: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0], metadata={
        "help": "Gold positions as fractions of the way through (0 first, 1 last), used when positions is null."})
    num_dicts: list[int] | None = field(default=None, metadata={
        "help": "Prompt length in dictionaries; null: each family's default."})
    template: bool = field(default=True, metadata={"help": "The answer-template variant of each family's prompt."})
    params: dict[str, dict[str, Any]] = field(default_factory=dict, metadata={
        "help": "Settings per family, e.g. {multi_subkey_kv: {n_keys: 2}}."})
    variants: dict[str, dict[str, Any]] = field(default_factory=dict, metadata={
        "help": "Named variants of one task, listed in `families` by name, e.g. {uuid-json: {task: formatted_kv, "
                "params: {key_format: uuid}}}."})
    chat: bool = field(default=True, metadata={"help": "Send the prompt as a user message."})
    max_new_tokens: int = field(default=96, metadata={"help": "Tokens generated per answer."})

    def validate(self) -> None:
        if not self.families:
            raise ConfigError("family_matrix.families: list at least one task family to evaluate")
        if len(set(self.families)) != len(self.families):
            raise ConfigError(f"family_matrix.families: a family is listed twice ({self.families})")
        extra = sorted(set(self.params) - set(self.families))
        if extra:
            raise ConfigError(f"family_matrix.params.{extra[0]}: not one of family_matrix.families")
        for name, v in self.variants.items():
            if not isinstance(v, dict) or not v.get("task") or set(v) - {"task", "params"}:
                raise ConfigError(f"family_matrix.variants.{name}: give {{task: <a task>, params: {{...}}}}, got {v!r}")
        for fam in self.families:
            try:
                self.family(fam).validate()
            except ConfigError as e:
                raise ConfigError(f"family_matrix ({fam}): {e}") from None

    def spec(self, fam: str) -> tuple[str, dict[str, Any]]:
        """(task, params) of a family: a task by its own name, or a named variant of one."""
        v = self.variants.get(fam, {})
        return v.get("task", fam), {**v.get("params", {}), **self.params.get(fam, {})}

    def family(self, fam: str) -> kv_retrieval.KVRetrievalConfig:
        """The kv-retrieval settings that evaluate one family."""
        task, params = self.spec(fam)
        return kv_retrieval.KVRetrievalConfig(
            task=task, n=self.n, positions=self.positions, depths=list(self.depths), num_dicts=self.num_dicts,
            template=self.template, params=params, chat=self.chat, max_new_tokens=self.max_new_tokens)

    def trained_families(self, components: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """The families a model trained on `components` [(task, params)] has seen: same task, and every content
        setting the family fixes (formats, rendering, query counts) equal in the component, defaults included.
        Layout settings (length, gold position, template) do not make a different family."""
        from ..tasks import get_task
        out = []
        for fam in self.families:
            task, params = self.spec(fam)
            t = get_task(task)
            default = t.config_cls()
            for c_task, c_params in components:
                if get_task(c_task).name != t.name:
                    continue
                if all(c_params.get(k, getattr(default, k, None)) == v
                       for k, v in params.items() if k not in LAYOUT_SETTINGS):
                    out.append(fam)
                    break
        return out


def build(s: FamilyMatrixConfig, seed: int) -> list[Item]:
    s.validate()
    items = []
    for fam in s.families:
        fs = s.family(fam)
        primary = kv_retrieval.metrics(fs)[0]
        for it in kv_retrieval.build(fs, seed):   # ids start with the family name: unique across variants
            items.append(dataclasses.replace(it, id=f"{fam}/{it.id.split('/', 1)[1]}", axes={"family": fam},
                                             cluster=f"{fam}/{it.cluster.split('/', 1)[1]}",
                                             gold={**it.gold, "family": fam, "primary": primary}))
    return items


def score(item: Item, text: str) -> tuple[dict, dict[str, float]]:
    parsed, scores = kv_retrieval.score(item, text)
    return parsed, {METRIC: scores[item.gold["primary"]], **scores}


def metrics(s: FamilyMatrixConfig) -> tuple[str, ...]:
    return (METRIC,)


def describe(s: FamilyMatrixConfig) -> dict:
    return {"data_source": "kv-retrieval items of each family: " + ", ".join(s.families)
                           + f" (seed {kv_retrieval.EVAL_SEED_OFFSET} + run seed)",
            "metric": "acc = each family's primary kv-retrieval metric",
            "families": list(s.families)}


BENCHMARK = Benchmark(name="family-matrix", section="family_matrix", settings=FamilyMatrixConfig,
                      report=ReportHook("family matrix", section="family-matrix"), build=build, score=score,
                      metrics=metrics, axes=("family",), describe=describe,
                      help="per task family, trained and held out (the family matrix)")

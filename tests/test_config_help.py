"""Every setting carries its help in field metadata (`needlework config show` prints it): the whole tree under
RunConfig, the stand-alone command configs (generate, train, eval, loss-map, heads), every registered task's
settings (data.params) and every registered benchmark's section. A field added without help fails here, by name."""
from __future__ import annotations

import dataclasses

import pytest

from needlework.config import ConfigError
from needlework.config_help import missing_help, render, select, settings_of
from needlework.evals.eval_config import EvalConfig
from needlework.evals.registry import sections
from needlework.pipeline.config import RunConfig
from needlework.probes.head_maps import HeadMapsConfig
from needlework.probes.loss_map import LossMapConfig
from needlework.tasks.files.dataset import GenerateConfig
from needlework.tasks.registry import all_tasks
from needlework.train.config import TrainConfig

ROOTS = {"run": RunConfig, "generate": GenerateConfig, "train": TrainConfig, "eval": EvalConfig,
         "loss-map": LossMapConfig, "heads": HeadMapsConfig,
         **{f"task {t.name}": t.config_cls for t in all_tasks().values()},
         **{f"benchmark section {name}": cls for name, cls in sections().items()}}


@pytest.mark.parametrize("where", sorted(ROOTS))
def test_every_field_has_help(where):
    assert missing_help(ROOTS[where]) == [], f"{where}: fields without metadata['help']"


def test_the_walk_reaches_every_section_and_every_class_of_the_run():
    keys = {s.key for s in settings_of(RunConfig)}
    assert {"eval.mdqa.k", "train.lora.r", "train.mdqa_probe.every", "backend.hf.engine", "data.mixture[].weight",
            "report.equivalence_margin", "estimate.measure"} <= keys
    reached = {s.section for s in settings_of(RunConfig) if s.section}
    assert set(sections().values()) <= reached   # every benchmark's settings class is under eval


@dataclasses.dataclass
class _Inner:
    a: int = dataclasses.field(default=1, metadata={"help": "A."})
    b: int = 2


@dataclasses.dataclass
class _Outer:
    inner: _Inner = dataclasses.field(default_factory=_Inner, metadata={"help": "The inner section."})
    c: str = ""


def test_a_field_without_help_is_reported_by_its_dotted_key():
    assert missing_help(_Outer) == ["inner.b", "c"]


def test_select_narrows_to_a_section_or_one_setting_and_names_the_sections_when_unknown():
    tree = settings_of(RunConfig)
    lora = select(tree, "train.lora")
    assert [s.key for s in lora] == ["train.lora", "train.lora.r", "train.lora.alpha", "train.lora.dropout",
                                     "train.lora.target_modules"]
    assert [s.key for s in select(tree, "train.lr")] == ["train.lr"]
    with pytest.raises(ConfigError) as e:
        select(tree, "eval.nope")
    message = str(e.value)
    assert "\n" not in message and "eval.nope" in message
    assert all(name in message for name in ("data", "train", "eval", "backend", "report", "estimate"))


def test_render_shows_key_type_default_help_and_the_backend_a_section_belongs_to():
    text = render(select(settings_of(RunConfig), "backend"))
    assert "backend.hf: HFBackendConfig  [hf only]" in text
    assert "backend.hf.engine: Literal['continuous', 'static'] = \"continuous\"" in text
    assert "backend.openai: OpenAIBackendConfig  [openai only]" in text
    assert "backend.openai.base_url: str | None = null" in text
    assert "backend.batch_size" not in text and "backend.base_url" not in text   # each in its backend's section
    assert "Rows decoded together." in text
    mdqa = render(select(settings_of(RunConfig), "eval.mdqa"))
    assert mdqa.splitlines()[0] == "eval.mdqa: MDQAConfig"
    assert "  eval.mdqa.positions: list[int] = [1, 2, 5, 10, 15, 20]" in mdqa

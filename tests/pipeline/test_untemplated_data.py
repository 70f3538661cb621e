"""A run whose training data counts tokens through a chat template the model lacks is refused before any stage."""
from __future__ import annotations

import pytest

from needlework.config import ConfigError
from needlework.pipeline.plan import refuse_untemplated_data


def test_base_model_with_templated_data_is_refused_naming_the_setting(mini, tiny_model_no_template_dir, tmp_path):
    plain = str(tiny_model_no_template_dir)
    cfg = mini(**{"data.tokenizer": plain, "train.model": plain})
    with pytest.raises(ConfigError, match=r"data\.chat_template is on .* set data\.chat_template=false"):
        refuse_untemplated_data(cfg)
    from needlework.pipeline.run import run
    with pytest.raises(ConfigError, match="data.chat_template"):
        run(cfg, log=lambda _: None, estimate=False)
    assert not (tmp_path / "runs" / "mini").exists() or not any((tmp_path / "runs" / "mini").glob("generate/*"))


def test_plain_data_for_a_base_model_and_templated_data_for_a_chat_model_pass(mini, tiny_model_no_template_dir):
    plain = str(tiny_model_no_template_dir)
    refuse_untemplated_data(mini(**{"data.tokenizer": plain, "train.model": plain, "data.chat_template": False}))
    refuse_untemplated_data(mini())   # the tiny model's tokenizer has SmolLM2's template


def test_an_arm_is_named_by_its_own_section(mini, tiny_model_dir, tiny_model_no_template_dir):
    plain = str(tiny_model_no_template_dir)
    cfg = mini(**{"arms": {"plain": {"tokenizer": plain}}})
    with pytest.raises(ConfigError, match=r"arms\.plain\.chat_template is on"):
        refuse_untemplated_data(cfg)


def test_the_dry_run_refuses_it_too(tiny_model_no_template_dir, tmp_path, capsys):
    import yaml
    from pipeline_helpers import mini_config

    from needlework.cli import main
    plain = str(tiny_model_no_template_dir)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(mini_config(plain, tmp_path / "runs", **{"data.tokenizer": plain})))
    assert main(["run", str(path), "--dry-run"]) == 2
    assert "data.chat_template is on" in capsys.readouterr().err

"""`needlework sweep` reads its config exactly as `needlework run` does (one function, cli.run_command.load_run_args):
a YAML file, a preset, the default preset, and `key=value` as the first argument."""
from __future__ import annotations

import pytest

import needlework.pipeline
from needlework.cli import main


class _Loaded(Exception):
    pass


@pytest.fixture
def loaded(monkeypatch):
    """Stop each command at the pipeline's door and hand back the config it loaded."""
    def stop(cfg):
        raise _Loaded(cfg)
    monkeypatch.setattr(needlework.pipeline, "run", stop)

    def load(*argv):
        with pytest.raises(_Loaded) as e:
            main(list(argv))
        return e.value.args[0]
    return load


@pytest.mark.parametrize("argv", [
    ["seeds=[0,1]", "eval.mdqa.n=7"],                      # key=value as the first argument: the default preset
    ["--preset", "cpu-demo", "seeds=[0,1]", "eval.mdqa.n=7"],
])
def test_sweep_and_run_load_the_same_config_from_the_same_arguments(loaded, tmp_path, argv):
    argv = [*argv, f"root={tmp_path}"]
    swept, ran = loaded("sweep", *argv), loaded("run", *argv)
    assert swept == ran
    assert swept.seeds == [0, 1] and swept.eval.mdqa.n == 7 and swept.name == "cpu-demo"


def test_sweep_seeds_flag_and_a_yaml_file(loaded, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("arms: {fast: {train: {lr: 0.001}}}\n")
    cfg = loaded("sweep", str(path), "--preset", "cpu-demo", "--seeds", "3,4", f"root={tmp_path}")
    assert cfg.seeds == [3, 4] and cfg.arms == {"fast": {"train": {"lr": 0.001}}}


def test_sweep_with_nothing_to_compare_is_refused_before_running(loaded, tmp_path, capsys):
    assert main(["sweep", f"root={tmp_path}"]) == 2   # the default preset: one arm, one seed
    err = capsys.readouterr().err
    assert "nothing to compare" in err and len(err.strip().splitlines()) == 1

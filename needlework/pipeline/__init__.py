"""`needlework run`: one config from data to verdict (generate -> base eval -> fine-tune -> eval -> report).

    from needlework.pipeline import load_run_config, run
    run(load_run_config("needlework/presets/cpu-demo.yaml"))
"""
from .config import RunConfig, load_run_config
from .presets import load_preset, preset_names
from .run import plan_text, run

__all__ = ["RunConfig", "load_preset", "load_run_config", "plan_text", "preset_names", "run"]

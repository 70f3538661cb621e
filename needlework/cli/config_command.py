"""`needlework config show [SECTION]`: the tree of settings a run config takes, with each setting's type, default and
help, read from the config dataclasses (needlework.config_help), so it cannot drift from what the loader accepts.

SECTION narrows it to a subtree or one setting (`eval.mdqa`, `train.lora`, `train.lr`); `tasks.<task>` shows a
task's own settings, which go under `data.params` (or an arm's `params`) when `data.task` names it.
"""
from __future__ import annotations

TASKS = "tasks"


def settings_tree() -> list:
    """RunConfig's settings, then every registered task's under `tasks.<name>`."""
    from ..config_help import Setting, settings_of
    from ..pipeline.config import RunConfig
    from ..tasks.registry import all_tasks
    tree = settings_of(RunConfig)
    tree.append(Setting(TASKS, "", None, "Each registered task's own settings: they go under data.params when "
                                         "data.task names the task (`needlework tasks` lists them).",
                        section="registered tasks"))
    for task in all_tasks().values():
        key = f"{TASKS}.{task.name}"
        tree.append(Setting(key, "", None, task.description, section=task.config_cls))
        tree.extend(settings_of(task.config_cls, key + "."))
    return tree


def cmd_config_show(args) -> int:
    import os
    import sys

    from ..config_help import render, select
    text = render(select(settings_tree(), args.section))
    try:
        print(text, flush=True)
    except BrokenPipeError:   # `config show | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no second error when Python exits
    return 0


def add_config_parser(sub) -> None:
    p = sub.add_parser("config", help="the settings a config takes: `config show [SECTION]` prints each one's key, "
                                      "type, default and help")
    verbs = p.add_subparsers(dest="verb", required=True)
    show = verbs.add_parser("show", help="the tree of settings (dotted key, type, default, help)")
    show.add_argument("section", nargs="?", help="a section or setting to narrow to, e.g. eval.mdqa, train.lora, "
                                                 "tasks.simple_kv")
    show.set_defaults(func=cmd_config_show)

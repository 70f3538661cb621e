"""The settings tree of a config dataclass, read from the dataclasses themselves: each setting's dotted key, type,
default and help (`field(metadata={"help": ...})`, as TRL's configs carry theirs). `needlework config show`
prints it; tests/test_config_help.py checks that every field of every config has its help.

A field whose type is a dataclass is a section (its settings follow it, one level deeper); a list of dataclasses
(`data.mixture`) is a section whose key ends in `[]`. A section named after a kind (`backend.hf`, see
config.kind_sections) applies to that backend only, as its row says.
"""
from __future__ import annotations

import dataclasses
import json
import textwrap
import types
import typing
from dataclasses import dataclass
from typing import Any

from .config import ConfigError, field_default, kind_sections


@dataclass(frozen=True)
class Setting:
    key: str                  # dotted, from the root config (`eval.mdqa.k`)
    type: str                 # as the source spells the annotation
    default: Any              # the default value; a section's default is its class
    help: str                 # "" where the field has none (the test refuses that)
    section: type | str | None = None   # a section's dataclass (or a label for a grouping); None for a setting
    backend: str | None = None    # the one backend this section applies to, where it is specific to one


def _section_class(tp: Any) -> tuple[type | None, bool]:
    """(the dataclass a field's type holds, whether it is a list of them); (None, False) for a plain setting."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _section_class(inner[0]) if len(inner) == 1 else (None, False)
    if origin in (list, tuple) and args and dataclasses.is_dataclass(args[0]):
        return args[0], True
    return (tp, False) if isinstance(tp, type) and dataclasses.is_dataclass(tp) else (None, False)


def settings_of(cls: type, prefix: str = "") -> list[Setting]:
    """Every setting of dataclass `cls`, depth first: a section's row, then its settings."""
    hints = typing.get_type_hints(cls)
    per_kind = kind_sections(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        key = f"{prefix}{f.name}"
        section, is_list = _section_class(hints[f.name])
        help_text = " ".join(str(f.metadata.get("help", "")).split())
        shown_type = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        if section is None:
            out.append(Setting(key, shown_type, field_default(f), help_text))
            continue
        key = key + "[]" if is_list else key
        out.append(Setting(key, shown_type, section, help_text, section, f.name if f.name in per_kind else None))
        out.extend(settings_of(section, key + "."))
    return out


def missing_help(cls: type, prefix: str = "") -> list[str]:
    """The dotted keys of `cls`'s settings (sections included) that carry no help text."""
    return [s.key for s in settings_of(cls, prefix) if not s.help]


def select(settings: list[Setting], section: str | None) -> list[Setting]:
    """The settings under `section` (a dotted key: a section and everything in it, or one setting); an unknown
    key is a one-line error naming the top-level sections."""
    if not section:
        return settings
    section = section.strip().rstrip(".")
    chosen = [s for s in settings if s.key == section or s.key.startswith(section + ".")
              or s.key == section + "[]" or s.key.startswith(section + "[].")]
    if not chosen:
        top = [s.key for s in settings if "." not in s.key and s.section is not None]
        raise ConfigError(f"no setting or section {section!r}; the sections are: {', '.join(top)} (and the top-level "
                          "settings; `needlework config show` lists them all)")
    return chosen


def _shown(value: Any) -> str:
    if value is dataclasses.MISSING:
        return "(required)"
    from .io import to_jsonable
    return json.dumps(to_jsonable(value), ensure_ascii=False)


def render(settings: list[Setting], width: int = 100) -> str:
    """One block per setting: `key: type = default`, its help indented below; a section's row names its class (and
    `[hf only]` for a backend's own section) and help, and its settings follow indented by depth."""
    lines = []
    base = min((s.key.count(".") for s in settings), default=0)
    for s in settings:
        indent = "  " * (s.key.count(".") - base)
        only = f"  [{s.backend} only]" if s.backend else ""
        if s.section is not None:
            label = s.section.__name__ if isinstance(s.section, type) else s.section
            lines.append(f"{indent}{s.key}: {label}{only}")
        else:
            lines.append(f"{indent}{s.key}: {s.type} = {_shown(s.default)}{only}")
        pad = indent + "    "
        lines.extend(textwrap.wrap(s.help or "(no help)", width=width, initial_indent=pad, subsequent_indent=pad))
    return "\n".join(lines)

"""Configs are dataclasses. They load from YAML plus `key=value` overrides; unknown keys are an error.

Every stage's config (generation, training, evaluation, the whole run) uses the same loader, so a YAML
file, a CLI override and a Python call all go through one strict path.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml

T = TypeVar("T")
_YAML11_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


class ConfigError(ValueError):
    """A setting is unknown, mistyped or impossible; the message names the setting."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if len([a for a in args if a is not type(None)]) == 1:   # Optional[X]: X's own message
            return _coerce(value, next(a for a in args if a is not type(None)), where)
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                pass
        raise ConfigError(f"{where}: {value!r} matches none of {_type_name(tp)}")
    if origin is typing.Literal:
        if isinstance(value, bool) and ("on" if value else "off") in args:
            value = "on" if value else "off"     # YAML 1.1 reads a bare on / off (and yes / no) as a boolean
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping of {tp.__name__} settings, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, tuple) or tp in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        out = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if (origin is tuple or tp is tuple) else out
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str) and _YAML11_FLOAT.match(value.strip()):
            number = float(value)   # YAML 1.1 reads `3e-4` (no dot) as a string; it is plainly a number
        else:
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(number):   # .nan / .inf: every later comparison with it is false, so it slips by
            raise ConfigError(f"{where}: {value!r} is not a finite number")
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def from_dict(cls: type[T], data: dict, where: str = "") -> T:
    """Build dataclass `cls` from a mapping, rejecting unknown keys and wrong types by name."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    prefix = f"{where}." if where else ""
    for old in unknown:   # a class's RENAMED {old key: new key} only words this error: nothing maps an old key
        if old in getattr(cls, "RENAMED", {}):
            raise ConfigError(f"{prefix}{old} is now {prefix}{cls.RENAMED[old]}")
    if unknown:
        raise ConfigError(f"unknown setting {prefix}{unknown[0]} (known: {', '.join(sorted(fields))})")
    if getattr(cls, "KIND_FIELD", None):
        _refuse_other_kind(cls, fields, data, prefix)
    kwargs = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        renamed = getattr(cls, "RENAMED_VALUES", {}).get(name, {})   # {setting: {old value: new value}}: words only
        if isinstance(value, str) and value in renamed:
            raise ConfigError(f"{key}: {value!r} is now {renamed[value]!r}")
        kwargs[name] = _coerce(value, hints[name], key)
        if name in ("seed", "seeds"):
            _check_seeds(key, kwargs[name])
    try:
        obj = cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from None
    return obj


def field_default(f: dataclasses.Field) -> Any:
    """A dataclass field's default value (its factory called), or dataclasses.MISSING for a required field."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def kind_sections(cls: type) -> dict[str, type]:
    """{name: dataclass} of `cls`'s sections named after a value of its KIND_FIELD (BackendConfig.hf for kind
    hf): the settings that only that kind reads. Empty for a class without KIND_FIELD."""
    kind_field = getattr(cls, "KIND_FIELD", None)
    if not kind_field:
        return {}
    hints = typing.get_type_hints(cls)
    kinds = typing.get_args(hints[kind_field])
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name in kinds}


def _refuse_other_kind(cls: type, fields: dict[str, dataclasses.Field], data: dict, prefix: str) -> None:
    """A setting in a section named after another kind than `cls.KIND_FIELD` chooses (`backend.openai.base_url`
    while `backend.kind` is hf), given away from its default, is refused: it would be silently ignored. A full
    dump (every section at its defaults) loads."""
    kind_field = cls.KIND_FIELD
    kind = data.get(kind_field, fields[kind_field].default)
    for owner, section in kind_sections(cls).items():
        given = data.get(owner)
        if owner == kind or given is None:
            continue
        if dataclasses.is_dataclass(given):
            given = {f.name: getattr(given, f.name) for f in dataclasses.fields(given)}
        if not isinstance(given, dict):
            continue   # not a mapping: the section's own loader says so
        section_fields = {f.name: f for f in dataclasses.fields(section)}
        for name, value in given.items():
            if name in section_fields and value != field_default(section_fields[name]):
                raise ConfigError(f"{prefix}{owner}.{name} is a setting of the {owner} backend, but "
                                  f"{prefix}{kind_field} is {kind}: remove it, or set {prefix}{kind_field}={owner}")


SEED_LIMIT = 2**32   # numpy's legacy generators and many libraries take seeds in [0, 2**32)


def _check_seeds(key: str, value: Any) -> None:
    for i, v in enumerate(value if isinstance(value, (list, tuple)) else [value]):
        if isinstance(v, int) and not 0 <= v < SEED_LIMIT:
            where = f"{key}[{i}]" if isinstance(value, (list, tuple)) else key
            raise ConfigError(f"{where}: {v} is out of range: a seed must be between 0 and 2**32 - 1 (what numpy "
                              "and torch accept)")


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = data
    for p in parts[:-1]:
        nxt = cur.get(p)
        if nxt is None:
            nxt = cur[p] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"override {dotted}: {p} is not a section")
        cur = nxt
    cur[parts[-1]] = value


def parse_overrides(overrides: list[str] | None) -> list[tuple[str, Any]]:
    """`a.b=3` -> ('a.b', 3); values are parsed as YAML so lists, numbers and null work."""
    out = []
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        _refuse_deep_nesting(raw, f"override {key.strip()}")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"override {key.strip()}: not a valid YAML value: {_one_line(e)}") from None
        out.append((key.strip(), value))
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (YAML would silently keep the last one)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":   # `<<: *base`: merged by SafeLoader, overridable
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} is given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def _one_line(e: yaml.YAMLError) -> str:
    """The YAML library's message without its drawn context: the problem and where it is, on one line."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


MAX_DEPTH = 64   # a config is a few levels deep; thousands of nested brackets only exhaust the parser's stack


def _refuse_deep_nesting(text: str, where: Any) -> None:
    """Count flow brackets and block indentation cheaply before parsing (the parser recurses per level)."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    if deepest > MAX_DEPTH:
        raise ConfigError(f"config file {where} is nested {deepest} levels deep; at most {MAX_DEPTH} are read")


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder; give a YAML file")
    try:
        text = path.read_text(encoding="utf-8")
        _refuse_deep_nesting(text, path)
        data = yaml.load(text, Loader=_UniqueKeyLoader) or {}
    except RecursionError:
        raise ConfigError(f"config file {path} is nested too deeply to read (more than {MAX_DEPTH} levels)") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {e.start}); give a YAML file") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {_one_line(e)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None,
                base: dict | None = None, check_mapping: Callable[[dict], None] | None = None) -> T:
    """Defaults <- `base` <- YAML file <- overrides, validated strictly into dataclass `cls`.
    `check_mapping` sees the merged settings before they are built (to refuse keys that are set elsewhere)."""
    data: dict = copy.deepcopy(base or {})   # deep: merging the YAML in must not change the caller's preset
    if path is not None:
        deep_update(data, load_yaml(path))
    for key, value in parse_overrides(overrides):
        _set_dotted(data, key, value)
    if check_mapping is not None:
        check_mapping(data)
    cfg = from_dict(cls, data)
    check = getattr(cfg, "validate", None)
    if callable(check):
        check()
    return cfg


def deep_update(dst: dict, src: dict) -> dict:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_update(dst[k], v)
        else:
            dst[k] = v
    return dst


def to_yaml(cfg: Any) -> str:
    from .io import to_jsonable
    return yaml.safe_dump(redact_secrets(to_jsonable(cfg)), sort_keys=False)


# ------------------------------------------------------------------ secrets never written or printed
_SECRET_PREFIX = re.compile(r"^(sk-|sk_|ghp_|gho_|ghs_|github_pat_|glpat-|hf_|xai-|gsk_|AIza|AKIA|xox[bp]-)")
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{20,}")
REDACTED = "<redacted: looks like a secret>"


def looks_like_secret(s: str) -> bool:
    """An API key pasted where a name belongs: a known key prefix, or a long token of mixed case and digits
    with high entropy (hex hashes, paths, model names and prose do not qualify)."""
    if not isinstance(s, str) or not _TOKEN.fullmatch(s):
        return False
    if _SECRET_PREFIX.match(s):
        return True
    if max(map(len, re.split(r"[-_]", s))) < 20:   # words joined by - or _ (SmolLM2-135M-Instruct-Q4_1)
        return False
    if len(s) < 24 or not (re.search(r"[a-z]", s) and re.search(r"[A-Z]", s) and len(re.findall(r"\d", s)) >= 2):
        return False
    counts = [s.count(c) for c in set(s)]
    entropy = -sum(n / len(s) * math.log2(n / len(s)) for n in counts)
    return entropy >= 4.0


def redact_secrets(obj: Any) -> Any:
    """Plain data with every string that looks like a secret replaced (configs written to disk)."""
    if isinstance(obj, dict):
        return {k: redact_secrets(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact_secrets(v) for v in obj]
    return REDACTED if looks_like_secret(obj) else obj


def redact_text(text: str) -> str:
    """A message with every secret-looking token replaced (errors echo the values they refuse)."""
    return _TOKEN.sub(lambda m: REDACTED if looks_like_secret(m.group(0)) else m.group(0), text)


def refuse_overlap(out_setting: str, out: str | Path | None, inputs: dict[str, Any]) -> None:
    """An output location that is an input, holds one, or lies inside one is refused before anything is written
    or removed: `overwrite` clears the output folder, and a model folder given as its own output was deleted.
    `inputs`: {setting: path or list of paths}; names that are not on this machine (hub names) are skipped."""
    if not out:
        return
    o = Path(out).expanduser().resolve()
    for setting, value in inputs.items():
        for p in value if isinstance(value, (list, tuple)) else [value]:
            if not p or not Path(p).expanduser().exists():
                continue
            i = Path(p).expanduser().resolve()
            how = ("is" if o == i else "holds" if o in i.parents else "lies inside" if i in o.parents else None)
            if how:
                raise ConfigError(f"{out_setting}: {out} {how} the input {setting}={p}; writing there could overwrite "
                                  f"or delete it, so nothing was changed: choose another {out_setting}")

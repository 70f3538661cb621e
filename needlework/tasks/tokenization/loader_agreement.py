"""Trust the transformers-free loader for a tokenizer folder only after it has agreed with transformers once.

`tokenizer_json` rebuilds what transformers does with a tokenizer.json, but model-specific tokenizer classes
may rebuild their backend differently (a Llama class's own normaliser, a patched pre-tokenizer regex...).
Counts must stay exact, so the first use of a folder loads it both ways, compares token ids on probe texts
(plain and special-token-laden), the specials added around a prompt and the chat-rendered text, and stores
the verdict under the cache folder keyed by a hash of the tokenizer files and the library versions. Every
later use reads the verdict (milliseconds) and never imports transformers when the loaders agreed.
"""
from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path

from .tokenizer_json import from_tokenizer_json, read_config, special_tokens

PROBES = (
    "x",
    "Dictionary [1] {'0f9b2c6e-4a1d': 'c41b7e20', \"91\": 4830, 7: [2, 18]}\n\nDictionary [2] {}\n",
    "  Leading spaces, trailing tab\t and\r\nWindows newlines.\n\n\n   ",
    "Unicode: café naïve — 東京 😀 Ünïcödé, digits 1234567890 3.14159 and 'quoted' \"text\".",
    "What is the value of key 12? Answer: The value of key 12 is 345.",
)
SYSTEMS = (None, "You are a careful assistant.")
TOKENIZER_FILES = ("special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt", "config.json",
                   "chat_template.jinja")
LIBRARIES = ("transformers", "tokenizers", "jinja2")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


def fingerprint(folder: Path) -> str:
    """Hash of every file the two loaders read, and of the library versions that interpret them."""
    h = hashlib.sha256()
    files = [f for f in folder.iterdir()
             if f.is_file() and (f.name.startswith("tokenizer") or f.name in TOKENIZER_FILES)]
    extra = folder / "additional_chat_templates"
    if extra.is_dir():
        files += list(extra.glob("*.jinja"))
    for f in sorted(files):
        h.update(f.relative_to(folder).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    h.update(" ".join(f"{d}={_version(d)}" for d in LIBRARIES).encode())
    return h.hexdigest()[:32]


def _probes(folder: Path) -> list[str]:
    named, extra = special_tokens(read_config(folder), folder)
    added = [t["content"] for t in json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
             .get("added_tokens", [])[:64]]
    specials = list(dict.fromkeys([*named.values(), *extra, *added]))
    return [*PROBES, *specials, "Text " + " mid ".join(specials) + " end"]


def _render(tok, prompt: str, system: str | None) -> str:
    try:
        return tok.wrap_chat(prompt, system)
    except Exception as e:   # a template that fails must fail the same way in both loaders
        return f"<error {type(e).__name__}>"


def disagreements(fast, ref, probes: list[str]) -> list[str]:
    """What differs between two `LoadedTokenizer`s on the probe texts (empty: they agree)."""
    bad = []
    if fast.n_added_special != ref.n_added_special:
        bad.append(f"special tokens added around a prompt: {fast.n_added_special} != {ref.n_added_special}")
    bad += [f"token ids of {p[:40]!r}" for p in probes if fast.encode(p) != ref.encode(p)]
    if (fast.wrap_chat is None) != (ref.wrap_chat is None):
        bad.append("chat template present in one loader only")
    elif fast.wrap_chat is not None:
        bad += [f"chat rendering of {p[:40]!r} (system {s!r})" for p in probes[:3] for s in SYSTEMS
                if _render(fast, p, s) != _render(ref, p, s)]
    return bad


def load_checked(folder: Path, name: str, cache: Path, load_reference):
    """The transformers-free tokenizer if it agreed with `load_reference()` (transformers) for these files,
    else the reference itself. The comparison runs once per fingerprint; its verdict is kept in `cache`."""
    from ...io import write_json

    verdict = cache / f"{fingerprint(folder)}.json"
    if verdict.is_file() and not json.loads(verdict.read_text(encoding="utf-8")).get("agrees"):
        return load_reference()
    fast = from_tokenizer_json(folder, name)
    if verdict.is_file() or not _version("transformers"):
        return fast   # agreed before; or nothing to compare against (tokenizer.json is then the definition)
    ref = load_reference()
    bad = disagreements(fast, ref, _probes(folder))
    try:
        verdict.parent.mkdir(parents=True, exist_ok=True)
        write_json(verdict, {"folder": str(folder), "agrees": not bad, "differences": bad[:20],
                             "versions": {d: _version(d) for d in LIBRARIES}})
    except OSError:
        pass   # a read-only cache only means the comparison runs again next time
    return ref if bad else fast

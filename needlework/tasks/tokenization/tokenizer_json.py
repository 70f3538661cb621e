"""A Hugging Face tokenizer folder loaded with the `tokenizers` library alone: no transformers, no torch.

Importing transformers (and torch through it) costs ~10 s on a small CPU, which used to be most of the
start-up of `needlework generate --tokenizer ...`. A folder with a `tokenizer.json` holds everything needed
to count tokens: the Rust tokenizer (normaliser, pre-tokenizer, model, post-processor that adds BOS/EOS),
the special tokens in `tokenizer_config.json`, and the chat template. This module rebuilds what
transformers' fast tokenizer does with them (transformers 5: `TokenizersBackend`, `apply_chat_template`):

- the post-processor comes from tokenizer.json as is (transformers drops `add_bos_token`/`add_eos_token`
  from the config when a tokenizer.json exists);
- named special tokens (`bos_token`, ..., model-specific `*_token`) and `extra_special_tokens` /
  `additional_special_tokens` missing from the vocabulary are added as special tokens;
- the chat template is `chat_template.jinja`, else `additional_chat_templates/*.jinja`, else the config's
  `chat_template`, rendered in the same sandboxed jinja2 environment transformers builds (trim_blocks,
  lstrip_blocks, loopcontrols, a `generation` tag, raise_exception, strftime_now, tojson, dict, namespace)
  with the special tokens passed in.

Model-specific tokenizer classes can still deviate (some rebuild the backend in Python), so a folder's
first use is compared with transformers once (`loader_agreement`) before this loader is trusted for it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass
class LoadedTokenizer:
    """A uniform view of HF, tiktoken and SentencePiece tokenizers: encode without specials + chat wrap.
    (Defined here, the lowest tokenizer module, so tokens -> loader_agreement -> tokenizer_json has no loop.)"""
    name: str
    encode: Callable[[str], list[int]]          # no special tokens added
    n_added_special: int                        # tokens the model's tokenizer adds around a plain prompt (BOS...)
    wrap_chat: Callable[[str, str | None], str] | None   # (user prompt, system) -> text as the model sees it


NAMED_SPECIAL = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")



def _token_str(value) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):   # a serialised AddedToken
        return value["content"]
    return None


def read_config(folder: Path) -> dict:
    path = folder / "tokenizer_config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def special_tokens(config: dict, folder: Path) -> tuple[dict[str, str], list[str]]:
    """(named special tokens as the chat template sees them, extra special tokens)."""
    config = dict(config)
    if "added_tokens_decoder" not in config and (folder / "special_tokens_map.json").is_file():
        # transformers reads the legacy special_tokens_map.json only for configs without added_tokens_decoder
        config.update(json.loads((folder / "special_tokens_map.json").read_text(encoding="utf-8")))
    extra = config.get("extra_special_tokens") or config.get("additional_special_tokens") or []
    named: dict[str, str] = {}
    for key, value in config.items():
        s = _token_str(value)
        if s is not None and (key in NAMED_SPECIAL or key.endswith("_token")):
            named[key] = s
    if isinstance(extra, dict):   # a dict of model-specific named tokens
        named.update({k: s for k, v in extra.items() if (s := _token_str(v)) is not None})
        extra = []
    return named, [s for v in extra if (s := _token_str(v)) is not None]


def chat_template(config: dict, folder: Path) -> str | None:
    """The template `apply_chat_template` would use with no tools; None if there is none."""
    templates: dict[str, str] = {}
    if (folder / "chat_template.jinja").is_file():
        templates["default"] = (folder / "chat_template.jinja").read_text(encoding="utf-8")
    extra_dir = folder / "additional_chat_templates"
    if extra_dir.is_dir():
        for f in extra_dir.glob("*.jinja"):
            templates[f.name.removesuffix(".jinja")] = f.read_text(encoding="utf-8")
    if not templates:
        t = config.get("chat_template")
        if isinstance(t, str):
            return t or None
        if isinstance(t, (list, tuple)):
            templates = {d["name"]: d["template"] for d in t}
    return templates.get("default")


def compile_chat_template(source: str):
    """The jinja2 environment of transformers' `_cached_compile_jinja_template`, minus assistant-mask tracking."""
    from datetime import datetime

    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class GenerationTag(jinja2.ext.Extension):
        # `{% generation %}...{% endgeneration %}` only marks assistant text for masks; it renders its body.
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

        def _render(self, caller):
            return caller()

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    class TemplateDict:
        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

        def fromkeys(self, *args, **kwargs):
            return dict.fromkeys(*args, **kwargs)

    class TemplateNamespace(jinja2.utils.Namespace):
        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name, value):
            TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check_name(name):
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(f"underscore-prefixed namespace attribute {name!r}")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.globals["dict"] = TemplateDict()
    env.globals["namespace"] = TemplateNamespace
    return env.from_string(source)


def from_tokenizer_json(folder: Path, name: str):
    """A `LoadedTokenizer` for an HF folder with a tokenizer.json, built without transformers."""
    from tokenizers import AddedToken, Tokenizer

    folder = Path(folder)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    config = read_config(folder)
    named, extra = special_tokens(config, folder)
    vocab = tok.get_vocab(with_added_tokens=True)
    missing = [t for t in [*named.values(), *extra] if t not in vocab]
    if missing:   # transformers adds special tokens the config names but tokenizer.json lacks
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in dict.fromkeys(missing)])
    tok.encode_special_tokens = bool(config.get("split_special_tokens", False))
    tok.no_truncation()
    tok.no_padding()

    def encode(text: str) -> list[int]:
        return tok.encode(text, add_special_tokens=False).ids

    n_added = len(tok.encode("x", add_special_tokens=True).ids) - len(encode("x"))
    source = chat_template(config, folder)
    wrap = None
    if source:
        compiled = []   # compiled on first use: jinja2 is only imported for --chat-template

        def wrap(prompt: str, system: str | None) -> str:
            if not compiled:
                compiled.append(compile_chat_template(source))
            msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
            return compiled[0].render(messages=msgs, tools=None, documents=None, add_generation_prompt=True,
                                      **named)
    return LoadedTokenizer(name, encode, n_added, wrap)

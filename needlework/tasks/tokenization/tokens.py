"""Exact token counts without re-tokenising every candidate prompt.

Byte-level BPE and SentencePiece tokenizers split text into pre-tokens before merging and never merge
across a pre-token boundary. One boundary is safe in all of them whatever surrounds it: in front of a
single space that sits between two non-space characters (every byte-level regex lets a word take at most
one leading space and never lets a token run on past a space; SentencePiece starts a piece at each "▁").
Newline runs are context-dependent ("}\n\n" is one pre-token before a space but two before a letter in
GPT-2's regex; cl100k glues them to punctuation), so they stay inside pieces. A prompt is cut at the safe
boundaries (PIECE_SPLIT), each distinct piece is tokenised once after a fixed anchor (so it is seen
mid-text; the anchor's tokens are subtracted) and cached, and a count is a sum of cached numbers.
That claim is checked per tokenizer (`self_check`) against full tokenisation; where it fails the counter
falls back to full tokenisation, which is always exact.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from ...config import ConfigError
from .tokenizer_json import LoadedTokenizer

PIECE_SPLIT = re.compile(r"(?<=[^ \n])(?= [^ \n])")
ANCHOR = "a"   # a piece starts with " " + non-space, so a letter before it is always a boundary
SELF_CHECK_EDGE_CASES = ("x", " a  b\n\n c", "Dictionary [1] {1: 2}\nDictionary [2] {3: 4}\n\nAbove", "\n\n\n ")


def load_counting_tokenizer(spec: str) -> LoadedTokenizer:
    """The tokenizer that counts a task's tokens. `spec`: a bundled model name, an HF name/path,
    `tiktoken:<encoding>`, or a SentencePiece `.model` file (Hugging Face ones load through models.py)."""
    if spec.startswith("tiktoken:"):
        try:
            import tiktoken
            enc = tiktoken.get_encoding(spec.split(":", 1)[1])
        except Exception as e:  # tiktoken downloads encodings on first use; offline that fails
            raise ConfigError(f"tokenizer {spec!r} could not be loaded: {e}") from None
        return from_tiktoken(enc, spec)
    if spec.endswith(".model") and Path(spec).is_file():
        import sentencepiece as spm
        return from_sentencepiece(spm.SentencePieceProcessor(model_file=spec), spec)
    from ...models import cache_dir, local_folder, tokenizer_source
    path = tokenizer_source(spec)
    folder = local_folder(path, "tokenizer.json")
    if folder is not None:
        # tokenizer.json alone (no transformers/torch import: ~10 s saved per start), once checked against
        # transformers for these files
        from .loader_agreement import load_checked
        return load_checked(folder, spec, cache_dir() / "tokenizer-checks", lambda: _load_hf(path, spec))
    return _load_hf(path, spec)


def has_chat_template(spec: str) -> bool:
    """Whether the model or tokenizer `spec` renders chat through a template of its own (a base model does not)."""
    return load_counting_tokenizer(spec).wrap_chat is not None


def _load_hf(path: str, spec: str) -> LoadedTokenizer:
    try:
        from ...models import load_tokenizer
        tok = load_tokenizer(path)
    except Exception as e:
        raise ConfigError(f"unknown tokenizer {spec!r}: not a bundled model, a local folder, a cached Hugging Face "
                          f"name, tiktoken:<encoding> or a .model file ({type(e).__name__})") from None
    return from_hf(tok, spec)


def from_hf(tok, name: str) -> LoadedTokenizer:
    def encode(text: str) -> list[int]:
        return tok(text, add_special_tokens=False)["input_ids"]

    n_added = len(tok("x", add_special_tokens=True)["input_ids"]) - len(encode("x"))
    wrap = None
    if getattr(tok, "chat_template", None):
        def wrap(prompt: str, system: str | None) -> str:
            msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
            return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    return LoadedTokenizer(name, encode, n_added, wrap)


def from_tiktoken(enc, name: str) -> LoadedTokenizer:
    return LoadedTokenizer(name, lambda t: enc.encode(t, disallowed_special=()), 0, None)


def from_sentencepiece(sp, name: str) -> LoadedTokenizer:
    # Matches a Llama-style tokenizer: BOS added in front of a plain prompt.
    return LoadedTokenizer(name, lambda t: sp.encode(t), 1 if sp.bos_id() >= 0 else 0, None)


class TokenCounter:
    """`counter(prompt)` = tokens of the prompt as the model sees it (chat template and specials included)."""

    def __init__(self, tok: LoadedTokenizer, chat_template: bool = False, system: str | None = None):
        if chat_template and tok.wrap_chat is None:
            raise ConfigError(f"chat_template is on but tokenizer {tok.name!r} has no chat template")
        self.tok, self.chat_template, self.system = tok, chat_template, system
        self.mode = "pieces"
        self._cache: dict[str, int] = {}         # piece -> tokens, for pieces cut by PIECE_SPLIT
        self._space_cache: dict[str, int] = {}   # word -> tokens of " " + word (fast path)
        self._first_cache: dict[str, int] = {}
        self._anchor = len(tok.encode(ANCHOR))
        if chat_template:
            marker = "\x00PROMPT\x00"   # render the template once; prompts are spliced in between
            self._pre, self._post = tok.wrap_chat(marker, system).split(marker)
        else:
            self._pre = self._post = ""

    def text(self, prompt: str) -> str:
        """The exact string the model's tokenizer sees for this user prompt."""
        return self._pre + prompt + self._post

    def full_count(self, prompt: str) -> int:
        specials = 0 if self.chat_template else self.tok.n_added_special
        return len(self.tok.encode(self.text(prompt))) + specials

    def _piece(self, piece: str) -> int:
        return len(self.tok.encode(ANCHOR + piece)) - self._anchor

    def _first(self, piece: str) -> int:
        n = self._first_cache.get(piece)
        if n is None:   # the first piece is tokenised as the start of the text
            n = self._first_cache[piece] = len(self.tok.encode(piece))
        return n

    def piece_count(self, prompt: str) -> int:
        text = self.text(prompt)
        specials = 0 if self.chat_template else self.tok.n_added_special
        if not text:
            return self.full_count(prompt)
        if "  " in text or " \n" in text or "\n " in text or text[0] == " " or text[-1] == " ":
            pieces = PIECE_SPLIT.split(text)   # general case: cut only at the safe boundaries
            rest = pieces[1:]
            cache = self._cache
            for p in rest:
                if p not in cache:
                    cache[p] = self._piece(p)
            return self._first(pieces[0]) + sum(map(cache.__getitem__, rest)) + specials
        # Fast path: every space sits between two non-space characters, so str.split(" ") cuts exactly at
        # the safe boundaries; pieces are keyed without their leading space.
        parts = text.split(" ")
        rest = parts[1:]
        cache = self._space_cache
        try:
            body = sum(map(cache.__getitem__, rest))
        except KeyError:
            for p in rest:
                if p not in cache:
                    cache[p] = self._piece(" " + p)
            body = sum(map(cache.__getitem__, rest))
        return self._first(parts[0]) + body + specials

    def __call__(self, prompt: str) -> int:
        return self.piece_count(prompt) if self.mode == "pieces" else self.full_count(prompt)

    def self_check(self, prompts: Iterable[str]) -> list[str]:
        """Compare piece counts with full tokenisation; on any mismatch switch to full mode for good."""
        bad = []
        for p in list(SELF_CHECK_EDGE_CASES) + list(prompts):
            if self.piece_count(p) != self.full_count(p):
                bad.append(p)
        if bad:
            self.mode = "full"
        return bad


def make_counter(spec: str | None, chat_template: bool = False, system: str | None = None) -> TokenCounter | None:
    if spec is None:
        if chat_template:
            raise ConfigError("chat_template needs a tokenizer; set tokenizer")
        return None
    return TokenCounter(load_counting_tokenizer(spec), chat_template, system)

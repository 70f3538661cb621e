"""`flenqa` / `flenqa-cot`: FLenQA (Levy et al.) True/False reasoning over padded contexts (paper §3.2.2).

Two data sources, and results.json says which was used (`describe`: source, file, length unit):
  released  -- the authors' JSONL records (REFERENCE §4 schema), used as given: `records_file`, else the
               first of RELEASED_DEFAULTS under the data folder when present (the first choice);
  generated -- otherwise: the offline FLenQA-protocol generators of data.py, lengths counted in the
               evaluated model's tokens (`tokenizer: model`; words and punctuation marks only when no
               tokenizer for it can be loaded offline, and results.json says so).
Prompts are the authors' templates verbatim (curly quotes and the `"True or "False"` quirk included);
scoring is their last-mention rule with "not true" -> "false" (metrics.flenqa_answer).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache

from ...backends.base import Request
from ...config import ConfigError
from . import data as fd
from ..metrics import flenqa_answer, flenqa_correct, normalize_flenqa
from ..base import Benchmark, Item, ReportHook

PROMPTS = {
    ("PIR", False): "{mixin}\nTrue/False Question: {q}\nAnswer only True or False.\n",
    ("PIR", True): "Show your steps then answer with ’true’ or ’false’.\n{mixin}\nTrue/False Question: {q}\n"
                   "Let’s work this out in a step by step way to\nbe sure we have the right answer.\n",
    ("MonoRel", False): "Here are some facts. Answer the exact following question based on the text: {q} Answer the "
                        "question as it appears exactly.\n{mixin}\n{q}\nAnswer only True or False.\n",
    ("MonoRel", True): "Here are some facts. Answer the exact following question based on the text: {q} Answer the "
                       "question as it appears exactly.\nShow your steps then answer with ’true’ or ’false’.\n"
                       "{mixin}\n{q}\nLet’s work this out in a step by step way to be sure we have the right answer. "
                       "Show your work and finally answer with ’true’ or ’false’. The final step should include the "
                       "exact text of the question and the answer.\n",
    ("Simplified RuleTaker", False): "Answer whether the statement {q} can be derived from the rule and the facts. "
                                     "Answer with either \"True\" or \"False\".\nRule: {rule}\nFacts: {mixin}\n"
                                     "Answer with either \"True or \"False\".\n",
    ("Simplified RuleTaker", True): "Answer whether the statement {q} can be derived from the rule and the facts.\n"
                                    "Show your steps then answer with either \"True\" or \"False\".\nRule: {rule}\n"
                                    "Facts: {mixin}\nAnswer with either \"True or \"False\". Let's work this out in a "
                                    "step by step way to be sure we have the right answer.\n",
}
REQUIRED = ("label", "dataset", "mixin", "padding_type", "dispersion", "ctx_size")
RELEASED_DEFAULTS = ("flenqa/flenqa.jsonl", "flenqa/FLenQA.jsonl")   # under the data folder ($NEEDLEWORK_DATA)
OPENAI_ENCODING = "tiktoken:cl100k_base"   # gpt-3.5-turbo / gpt-4 (and their fine-tunes, "ft:gpt-...")
MAX_NEW_TOKENS = 400   # the authors' notebook: max_output_tokens=400 for every call, with or without CoT


@dataclass
class FLenQAConfig:
    source: str = field(default="auto", metadata={
        "help": "auto (released records when found, else generated) | released | generated."})
    records_file: str | None = field(default=None, metadata={
        "help": "Released FLenQA JSONL; null: the default file under the data folder."})
    datasets: list[str] = field(default_factory=lambda: list(fd.DATASETS), metadata={
        "help": "FLenQA's datasets to use (PIR, MonoRel, Simplified RuleTaker)."})
    n_base: int = field(default=16, metadata={
        "help": "Base samples per dataset (each x lengths x dispersions x paddings)."})
    lengths: list[int] = field(default_factory=lambda: [250, 500, 1000, 2000, 3000], metadata={
        "help": "Padded prompt lengths, in `tokenizer` units."})
    dispersions: list[str] = field(default_factory=lambda: ["first", "middle", "last", "random"], metadata={
        "help": "Where the key facts sit in the padding: first | middle | last | random."})
    paddings: list[str] = field(default_factory=lambda: ["books", "same"], metadata={
        "help": "Padding text: books (essay sentences) | same (other samples' key paragraphs sharing no entity)."})
    tokenizer: str | None = field(default="model", metadata={
        "help": "The length unit: \"model\" (the evaluated model's tokens), a tokenizer, or \"words\"."})
    key_paragraphs: bool = field(default=True, metadata={
        "help": "Key facts inside short neutral paragraphs (FLenQA); false: bare sentences."})
    essays_dir: str | None = field(default=None, metadata={
        "help": "Essays for the books padding; null: the packaged Paul Graham essays."})
    chat: bool = field(default=True, metadata={"help": "Send the prompt as a user message."})
    max_new_tokens: int | None = field(default=None, metadata={
        "help": "Tokens generated per answer; null: 400, the authors' cap with and without CoT."})

    def validate(self) -> None:
        if self.source not in ("auto", "released", "generated"):
            raise ConfigError(f"flenqa.source: {self.source!r} is not auto/released/generated")
        if self.source == "generated" and self.records_file:
            raise ConfigError("flenqa.records_file is set but flenqa.source is 'generated'; drop one")
        for d in self.datasets:
            if d not in fd.DATASETS:
                raise ConfigError(f"flenqa.datasets: {d!r} is not one of {', '.join(fd.DATASETS)}")
        for d in self.dispersions:
            if d not in ("first", "middle", "last", "random"):
                raise ConfigError(f"flenqa.dispersions: {d!r} is not first/middle/last/random")
        for p in self.paddings:
            if p not in ("books", "same"):
                raise ConfigError(f"flenqa.paddings: {p!r} is not books/same")
        if self.n_base < 1 or any(n < 1 for n in self.lengths):
            raise ConfigError("flenqa.n_base and flenqa.lengths must be positive")


def render_prompt(dataset: str, cot: bool, mixin: str, q: str, rule: str = "") -> str:
    return PROMPTS[(dataset, cot)].format(mixin=mixin, q=q, rule=rule)


def _canonical_dataset(name: str) -> str:
    low = str(name).lower().replace("_", " ")
    if "ruletaker" in low.replace(" ", ""):
        return "Simplified RuleTaker"
    if "monorel" in low.replace(" ", ""):
        return "MonoRel"
    if low.strip() == "pir" or "people" in low:
        return "PIR"
    raise ConfigError(f"unknown FLenQA dataset {name!r}")


def released_file(s: FLenQAConfig) -> str | None:
    """The released records to use, or None to generate; `source: released` with no file is an error."""
    if s.source == "generated":
        return None
    if s.records_file:
        return s.records_file
    from ...real_data import data_root
    for rel in RELEASED_DEFAULTS:
        if (data_root() / rel).is_file():
            return str(data_root() / rel)
    if s.source == "released":
        raise ConfigError(f"flenqa.source is 'released' but no records_file is given and none of "
                          f"{', '.join(RELEASED_DEFAULTS)} exists under {data_root()}")
    return None


@lru_cache(maxsize=4)
def _counter(spec: str):
    from ...tasks.tokenization.tokens import make_counter
    return make_counter(spec)


def length_tokenizer(spec: str | None, model: str) -> tuple[str | None, str]:
    """(tokenizer spec or None for words, how lengths are counted): `model` tries the evaluated model's own
    tokenizer offline (tiktoken's cl100k_base for OpenAI gpt models), else words with the reason."""
    if spec in (None, "words"):
        return None, "words + punctuation marks (flenqa.tokenizer: words)"
    if spec != "model":
        return spec, f"tokens of {spec}"
    if not model:
        return None, "words + punctuation marks: no evaluated model named to take a tokenizer from"
    name = model[3:] if model.startswith("ft:") else model
    cand = OPENAI_ENCODING if name.startswith("gpt-") else model
    try:
        _counter(cand)
    except Exception as e:   # offline: an uncached hub name or tiktoken file; say so and count words
        return None, (f"words + punctuation marks: no tokenizer for model {model!r} could be loaded offline "
                      f"({type(e).__name__}); set flenqa.tokenizer to count model tokens")
    return cand, f"tokens of {cand} (the evaluated model's tokenizer)"


def bind(s: FLenQAConfig, model: str) -> FLenQAConfig:
    """The settings for one evaluated model: `tokenizer: model` resolved (the runner calls this)."""
    if released_file(s):
        return s
    spec, note = length_tokenizer(s.tokenizer, model)
    out = dataclasses.replace(s, tokenizer=spec or "words")
    out.length_note = note   # a plain attribute, not a setting: configs written to YAML never carry it
    return out


def _released(s: FLenQAConfig, cot: bool) -> list[tuple[str, dict, str, str, str, list[str]]]:
    from ...real_data import resolve
    from ...io import JSONLError, read_jsonl
    path = resolve(released_file(s), "")
    out = []
    try:
        rows = list(read_jsonl(path))
    except JSONLError as e:
        raise ConfigError(f"FLenQA records: {e}") from None
    for i, r in enumerate(rows, 1):
        missing = [f for f in REQUIRED if f not in r]
        # Every task asks `assertion/question` (the authors' notebook); for Simplified RuleTaker `statement`
        # holds the key facts (what CoT coverage counts), never the question.
        q = r.get("assertion/question")
        if missing or not q:
            raise ConfigError(f"{path}: record {i} lacks {', '.join(missing) or 'assertion/question'}")
        ds = _canonical_dataset(r["dataset"])
        prompt = render_prompt(ds, cot, r["mixin"], q, r.get("rule", ""))
        rid = str(r.get("global_sample_id", i))
        axes = {"length": r["ctx_size"], "position": r["dispersion"], "padding": r["padding_type"], "task": ds}
        out.append((f"released/{rid}", axes, prompt, str(r["label"]), ds, _key_facts(ds, r)))
    return out


def _key_facts(ds: str, r: dict) -> list[str]:
    """The sentences a chain of thought should restate: `facts`, or `statement` for Simplified RuleTaker."""
    raw = r.get("statement") if ds == "Simplified RuleTaker" else r.get("facts")
    if isinstance(raw, str):
        return [raw] if raw else []
    return [str(f) for f in raw or []]


def _generated(s: FLenQAConfig, seed: int, cot: bool) -> list[tuple[str, dict, str, str, str, list[str]]]:
    from tqdm import tqdm
    spec = s.tokenizer if s.tokenizer not in ("model", "words") else None   # "model" unbound: words (estimates)
    count = _counter(spec) if spec else fd.approx_tokens
    out = []
    combos = [(ds, i) for ds in s.datasets for i in range(s.n_base)]
    for ds, i in tqdm(combos, desc="flenqa: building", unit="sample", leave=False, mininterval=2):
        base = fd.base_sample(ds, seed, i, s.key_paragraphs)
        for pad in s.paddings:
            for length in s.lengths:
                mixins = fd.build_mixins(base, pad, length, s.dispersions, count, seed, s.essays_dir)
                for disp, mixin in mixins.items():
                    prompt = render_prompt(ds, cot, mixin, base.question, base.rule)
                    axes = {"length": length, "position": disp, "padding": pad, "task": ds}
                    out.append((f"{ds}/{i}/{pad}/{length}/{disp}", axes, prompt, base.label, ds, list(base.facts)))
    return out


def _build(s: FLenQAConfig, seed: int, cot: bool) -> list[Item]:
    s.validate()
    rows = _released(s, cot) if released_file(s) else _generated(s, seed, cot)
    max_new = s.max_new_tokens or MAX_NEW_TOKENS
    items = []
    for rid, axes, prompt, label, ds, facts in rows:
        req = (Request(messages=[{"role": "user", "content": prompt}], max_new_tokens=max_new) if s.chat
               else Request(prompt=prompt, max_new_tokens=max_new))
        # a generated instance at every length, padding and dispersion is one cluster ("<dataset>/<i>")
        cluster = "/".join(rid.split("/")[:2]) if not rid.startswith("released/") else None
        items.append(Item(id=rid, axes=axes, request=req, gold={"label": label, "dataset": ds,
                                                                       "key_facts": facts}, cluster=cluster))
    return items


def score(item: Item, text: str) -> tuple[str, dict[str, float]]:
    parsed = flenqa_answer(text)
    return parsed, {"accuracy": flenqa_correct(text, item.gold["label"])}


def score_cot(item: Item, text: str) -> tuple[str, dict[str, float]]:
    """Accuracy plus the authors' CoT coverage: the share of key facts restated (normalised) in the output."""
    parsed, scores = score(item, text)
    facts = item.gold.get("key_facts") or []
    out = normalize_flenqa(text)
    scores["cot_coverage"] = sum(normalize_flenqa(f) in out for f in facts) / len(facts) if facts else 0.0
    return parsed, scores


def describe(s: FLenQAConfig) -> dict:
    path = released_file(s)
    if path:
        return {"source": "released", "data_source": f"released FLenQA records from {path} (used as given)"}
    unbound = "words" if s.tokenizer == "model" else s.tokenizer   # not bound to a model: counted in words
    unit = getattr(s, "length_note", None) or length_tokenizer(unbound, "")[1]
    return {"source": "generated",
            "data_source": "generated offline with needlework's FLenQA-protocol generators (PIR, MonoRel, "
                           "Simplified RuleTaker written from the paper's description; not the released data); "
                           "'books' padding = Paul Graham essays",
            "key_facts": ("each key sentence inside a short paragraph of neutral sentences" if s.key_paragraphs
                          else "bare key sentences"),
            "length_unit": unit}


BENCHMARK = Benchmark(name="flenqa", section="flenqa", settings=FLenQAConfig,
                      report=ReportHook("FLenQA", claim="transfer", chance=0.5),
                      build=lambda s, seed: _build(s, seed, False),
                      score=score, metrics=lambda s: ("accuracy",), axes=("length", "position", "padding", "task"),
                      describe=describe, bind=bind, help="FLenQA's three reasoning tasks over padded lengths (claim 2)")
BENCHMARK_COT = Benchmark(name="flenqa-cot", section="flenqa", settings=FLenQAConfig,
                          report=ReportHook("FLenQA with CoT", claim="transfer", chance=0.5),
                          build=lambda s, seed: _build(s, seed, True), score=score_cot,
                          metrics=lambda s: ("accuracy", "cot_coverage"),
                          axes=("length", "position", "padding", "task"),
                          describe=describe, bind=bind, help="FLenQA answered after a chain of thought (claim 2)")

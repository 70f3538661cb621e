"""`flenqa` / `flenqa-cot`: FLenQA (Levy et al.) True/False reasoning over padded contexts (paper §3.2.2).

Two data sources, and results.json says which was used:
  released  -- `records_file` given: the authors' JSONL records (REFERENCE §4 schema) are used as given;
  generated -- otherwise: the offline FLenQA-protocol generators of flenqa_data.py.
Prompts are the authors' templates verbatim (curly quotes and the `"True or "False"` quirk included);
scoring is their last-mention rule with "not true" -> "false" (metrics.flenqa_answer).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..backends.base import Request
from ..config import ConfigError
from . import flenqa_data as fd
from .metrics import flenqa_answer
from .registry import Benchmark, Item

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


@dataclass
class FLenQASettings:
    records_file: str | None = None         # released FLenQA JSONL; null: generate offline
    datasets: list[str] = field(default_factory=lambda: list(fd.DATASETS))
    n_base: int = 16                        # base samples per dataset (x 5 lengths x 4 placements x 2 paddings)
    lengths: list[int] = field(default_factory=lambda: [250, 500, 1000, 2000, 3000])
    dispersions: list[str] = field(default_factory=lambda: ["first", "middle", "last", "random"])
    paddings: list[str] = field(default_factory=lambda: ["books", "same"])
    tokenizer: str | None = None            # length unit; null: words+punctuation marks (approx_tokens)
    essays_dir: str | None = None           # "books" padding text; default: the packaged Paul Graham essays
    chat: bool = True
    max_new_tokens: int | None = None       # null: 400 with CoT (the authors'), 32 without

    def validate(self) -> None:
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


def _released(s: FLenQASettings, cot: bool) -> list[tuple[str, dict, str, str, str]]:
    from ..data import resolve
    from ..io import JSONLError, read_jsonl
    path = resolve(s.records_file, "")
    out = []
    try:
        rows = list(read_jsonl(path))
    except JSONLError as e:
        raise ConfigError(f"FLenQA records: {e}") from None
    for i, r in enumerate(rows, 1):
        missing = [f for f in REQUIRED if f not in r]
        q = r.get("assertion/question") or r.get("statement") or r.get("question")
        if missing or not q:
            raise ConfigError(f"{path}: record {i} lacks {', '.join(missing) or 'assertion/question'}")
        ds = _canonical_dataset(r["dataset"])
        if ds == "Simplified RuleTaker":
            q = r.get("statement") or q
        prompt = render_prompt(ds, cot, r["mixin"], q, r.get("rule", ""))
        rid = str(r.get("global_sample_id", i))
        axes = {"length": r["ctx_size"], "position": r["dispersion"], "padding": r["padding_type"], "task": ds}
        out.append((f"released/{rid}", axes, prompt, str(r["label"]), ds))
    return out


def _generated(s: FLenQASettings, seed: int, cot: bool) -> list[tuple[str, dict, str, str, str]]:
    from tqdm import tqdm
    count = fd.approx_tokens
    if s.tokenizer:
        from ..tasks.tokens import make_counter
        count = make_counter(s.tokenizer)
    out = []
    combos = [(ds, i) for ds in s.datasets for i in range(s.n_base)]
    for ds, i in tqdm(combos, desc="flenqa: building", unit="sample", leave=False, mininterval=2):
        base = fd.base_sample(ds, seed, i)
        for pad in s.paddings:
            for length in s.lengths:
                mixins = fd.build_mixins(base, pad, length, s.dispersions, count, seed, s.essays_dir)
                for disp, mixin in mixins.items():
                    prompt = render_prompt(ds, cot, mixin, base.question, base.rule)
                    axes = {"length": length, "position": disp, "padding": pad, "task": ds}
                    out.append((f"{ds}/{i}/{pad}/{length}/{disp}", axes, prompt, base.label, ds))
    return out


def _build(s: FLenQASettings, seed: int, cot: bool) -> list[Item]:
    s.validate()
    rows = _released(s, cot) if s.records_file else _generated(s, seed, cot)
    max_new = s.max_new_tokens or (400 if cot else 32)
    items = []
    for rid, axes, prompt, label, ds in rows:
        req = (Request(messages=[{"role": "user", "content": prompt}], max_new_tokens=max_new) if s.chat
               else Request(prompt=prompt, max_new_tokens=max_new))
        items.append(Item(id=rid, axes=axes, request=req, gold={"label": label, "dataset": ds}))
    return items


def score(item: Item, text: str) -> tuple[str, dict[str, float]]:
    parsed = flenqa_answer(text)
    return parsed, {"accuracy": float(parsed == item.gold["label"].strip().lower())}


def describe(s: FLenQASettings) -> dict:
    if s.records_file:
        return {"data_source": f"released FLenQA records from {s.records_file} (used as given)"}
    unit = s.tokenizer or "approximate tokens (words + punctuation marks)"
    return {"data_source": "generated offline with needlework's FLenQA-protocol generators (PIR, MonoRel, "
                           "Simplified RuleTaker written from the paper's description; not the released data); "
                           "'books' padding = Paul Graham essays",
            "length_unit": unit}


BENCHMARK = Benchmark(name="flenqa", section="flenqa", build=lambda s, seed: _build(s, seed, False), score=score,
                      metrics=lambda s: ("accuracy",), axes=("length", "position", "padding", "task"),
                      describe=describe)
BENCHMARK_COT = Benchmark(name="flenqa-cot", section="flenqa", build=lambda s, seed: _build(s, seed, True),
                          score=score, metrics=lambda s: ("accuracy",), axes=("length", "position", "padding", "task"),
                          describe=describe)

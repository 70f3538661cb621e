"""What the report knows about a benchmark comes from its registry record's ReportHook (evals/base.py): its
label, the shape of its results, the extra section it feeds and the paper claim it answers. The report branches
on these, never on a benchmark's name, so a new benchmark appears in it without an edit here."""
from __future__ import annotations

from ..evals.base import ReportHook
from ..evals.registry import all_benchmarks


def report_hook(name: str) -> ReportHook:
    """Benchmark `name`'s hook; a name in older results that is no longer registered is shown plainly."""
    known = all_benchmarks()
    return known[name].report if name in known else ReportHook(label=name)


def claim_benchmarks(claim: str) -> tuple[str, ...]:
    """The registered benchmarks answering one of the paper's claims (retrieval, transfer, general), in order."""
    return tuple(name for name, b in all_benchmarks().items() if b.report.claim == claim)


def section_benchmark(section: str, names) -> str | None:
    """Of `names`, the benchmark whose results feed report section `section` (retrieval-grid, family-matrix)."""
    return next((n for n in names if report_hook(n).section == section), None)

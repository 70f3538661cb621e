"""The run report: collect (stage outputs -> report.json), tables, plots, and the HTML / Markdown renderers.
The report runs nothing: it only reads what the stages wrote."""
from .build import write_report

__all__ = ["write_report"]

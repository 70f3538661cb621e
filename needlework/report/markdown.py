"""report.md: the same sections as report.html; figures are PNG files linked by path relative to the run
root (where report.md is copied), since Markdown viewers generally do not show data URIs."""
from __future__ import annotations

import json
from typing import Any

from .tables import Table


def _cell(x: Any) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def table_md(t: Table) -> str:
    lines = [f"**{t['title']}**", "", "| " + " | ".join(_cell(h) or " " for h in t["header"]) + " |",
             "|" + "---|" * len(t["header"])]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in t["rows"]]
    if t.get("note"):
        lines += ["", f"_{t['note']}_"]
    return "\n".join(lines) + "\n"


def render(title: str, sections: list[tuple[str, list[tuple[str, Any]]]]) -> str:
    """Blocks: table | img ((relative path, alt)) | p | pre."""
    out = [f"# {title}", ""]
    for heading, blocks in sections:
        out += [f"## {heading}", ""]
        for kind, payload in blocks:
            if kind == "table":
                out.append(table_md(payload))
            elif kind == "img":
                path, alt = payload
                out += [f"![{alt}]({path})", ""]
            elif kind == "pre":
                text = payload if isinstance(payload, str) else json.dumps(payload, indent=2)
                out += ["```", text, "```", ""]
            else:
                out += [str(payload), ""]
    return "\n".join(out)

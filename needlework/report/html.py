"""report.html: one self-contained file (inline CSS, base64 PNGs, no external requests) that opens offline.

A three-line inline script records on <body> how many images decoded (data-images-decoded), which is what
the headless-Chromium test reads; the page needs no script to display.
"""
from __future__ import annotations

import base64
import html
import json
from typing import Any

from .tables import Table

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .6em;
text-align:left}th{background:#f3f3f3}img{max-width:100%;display:block;margin:.5em 0}.note{color:#666;font-size:.85em}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.8em}h2{border-bottom:1px solid #ddd;padding-top:.5em}
td.good{background:#e2f3e2}td.bad{background:#f8dede}td.open{background:#fdf3d6}"""
SCRIPT = ("window.addEventListener('load',function(){var i=[].slice.call(document.images);"
          "document.body.setAttribute('data-images-decoded',i.filter(function(x){return x.complete&&x.naturalWidth>0;})"
          ".length);document.body.setAttribute('data-images-total',i.length);});")


def esc(x: Any) -> str:
    return html.escape(str(x))


def _td(cell: Any, color: bool) -> str:
    from .verdict_table import reading_class
    cls = reading_class(cell) if color else None
    return f'<td class="{cls}">{esc(cell)}</td>' if cls else f"<td>{esc(cell)}</td>"


def table_html(t: Table) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in t["header"])
    color = bool(t.get("color_readings"))   # the verdict table: a reading's cell coloured by what it says
    body = "".join("<tr>" + "".join(_td(c, color and k == len(row) - 1) for k, c in enumerate(row)) + "</tr>"
                   for row in t["rows"])
    note = f'<p class="note">{esc(t["note"])}</p>' if t.get("note") else ""
    return f"<h3>{esc(t['title'])}</h3><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def img_html(png: bytes, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def render(title: str, sections: list[tuple[str, list[tuple[str, Any]]]]) -> str:
    """sections: (heading, [(kind, payload)]) with kind table | img (png bytes, alt) | p | pre."""
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>",
             f"<style>{CSS}</style><script>{SCRIPT}</script></head><body><h1>{esc(title)}</h1>"]
    for heading, blocks in sections:
        parts.append(f"<h2>{esc(heading)}</h2>")
        for kind, payload in blocks:
            if kind == "table":
                parts.append(table_html(payload))
            elif kind == "img":
                parts.append(img_html(*payload))
            elif kind == "pre":
                parts.append(f"<pre>{esc(payload if isinstance(payload, str) else json.dumps(payload, indent=2))}</pre>")
            else:
                parts.append(f"<p>{esc(payload)}</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)

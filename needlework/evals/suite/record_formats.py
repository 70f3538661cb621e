"""How the `records` task writes a table of records: five real-looking formats, none of them a Python dict.

Every record is {name, owner, tag}. Each renderer returns the whole block of text; `FORMATS` names them in the
order `format: mixed` cycles through.
"""
from __future__ import annotations

import csv
import io
import json

FIELDS = ("name", "owner", "tag")


def _csv(records: list[dict], stamps: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FIELDS)
    for r in records:
        w.writerow([r[f] for f in FIELDS])
    return buf.getvalue().rstrip("\n")


def _markdown(records: list[dict], stamps: list[str]) -> str:
    rows = ["| " + " | ".join(FIELDS) + " |", "|" + "---|" * len(FIELDS)]
    rows += ["| " + " | ".join(r[f] for f in FIELDS) + " |" for r in records]
    return "\n".join(rows)


def _log(records: list[dict], stamps: list[str]) -> str:
    return "\n".join(f'{t} INFO catalogue: record name={json.dumps(r["name"])} owner={json.dumps(r["owner"])} '
                     f'tag={r["tag"]}' for t, r in zip(stamps, records))


def _yaml_scalar(s: str) -> str:
    return json.dumps(s) if any(c in s for c in ":#'\"[]{},&*!|>%@`") else s


def _yaml(records: list[dict], stamps: list[str]) -> str:
    return "records:\n" + "\n".join(f"  - name: {_yaml_scalar(r['name'])}\n    owner: {_yaml_scalar(r['owner'])}\n"
                                    f"    tag: {r['tag']}" for r in records)


def _ini(records: list[dict], stamps: list[str]) -> str:
    return "\n\n".join(f"[{r['name']}]\nowner = {r['owner']}\ntag = {r['tag']}" for r in records)


RENDER = {"csv": _csv, "markdown": _markdown, "log": _log, "yaml": _yaml, "ini": _ini}
FORMATS = tuple(RENDER)
DESCRIBE = {"csv": "a CSV file", "markdown": "a markdown table", "log": "a log file",
            "yaml": "a YAML file", "ini": "an INI file"}


def render(fmt: str, records: list[dict], stamps: list[str]) -> str:
    return RENDER[fmt](records, stamps)

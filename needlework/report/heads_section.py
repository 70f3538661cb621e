"""The report's retrieval-heads section, rendered from what a `heads` stage wrote (heads.json and its PNGs,
needlework/probes/head_maps.py): the report reads the files and loads no model."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def head_map_blocks(root: Path, folder: str | Path) -> list[tuple[str, Any]]:
    """Report blocks for a `heads` output folder (relative to the run root): the heatmaps and tables of the
    top and most-changed heads, in build.py's `add(heading, blocks)` form."""
    import json
    heads = json.loads((Path(root) / folder / "heads.json").read_text(encoding="utf-8"))
    blocks: list[tuple[str, Any]] = [("p", (
        f"Retrieval score (Wu et al. 2024) of each head: share of the gold value's answer tokens at which the "
        f"head's strongest attention is on the needle's copy of that token; {heads['samples']} samples of "
        f"{heads['data']}, {heads['steps']} scored tokens, teacher-forced on the gold answer."))]
    alt = {"heads.png": f"retrieval score per head, {heads['model']}",
           "heads_compare.png": f"retrieval score per head, {heads.get('compare', {}).get('model')}",
           "heads_change.png": "change in retrieval score per head"}
    blocks += [("file-png", (str(Path(folder) / name), alt[name])) for name in heads["pngs"]]
    models = [heads] + ([heads["compare"]] if "compare" in heads else [])
    for m in models:
        blocks.append(("table", {"title": f"top heads: {m['model']}", "header": ["layer", "head", "score"],
                                 "rows": [[t["layer"], t["head"], f"{t['score']:.3f}"] for t in m["top"]]}))
    if "changed" in heads:
        blocks.append(("table", {
            "title": f"heads whose score changed most: {heads['model']} -> {heads['compare']['model']}",
            "header": ["layer", "head", "before", "after", "change"],
            "rows": [[c["layer"], c["head"], f"{c['before']:.3f}", f"{c['after']:.3f}", f"{c['change']:+.3f}"]
                     for c in heads["changed"]]}))
    return blocks

"""The family matrix: rows are fine-tuned arms, columns are evaluated task families, each cell the change from
the base model with a paired 95% interval -- did training on some families help on families it never saw?

Read from the `family-matrix` benchmark's per-item rows (samples.jsonl): the base model and each fine-tuned model
answered the same items, so each cell pairs them by item id (items over a model's context in either run are
left out of that pair). With several seeds, every seed's pairs are pooled into one cell (the base evaluation is
shared by all seeds, so pooled pairs are not independent: the interval is then a little narrow; the per-seed
deltas are kept beside it). A family is marked `trained` for an arm when that arm's data held it (a mixture's
components included), else `held out`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..evals.paired import METHOD_MCNEMAR, paired_difference
from ..evals.paired_runs import cluster_of
from ..evals.family_matrix import BENCHMARK, METRIC
from ..io import read_jsonl

BENCH = BENCHMARK.name


def _by_item(rows: list[dict]) -> dict[str, dict]:
    return {r["item_id"]: r for r in rows if r.get("benchmark") == BENCH and not r.get("over_context")}


def family_matrix(base_rows: list[dict], arm_rows: dict[str, list[list[dict]]],
                    trained: dict[str, list[str]]) -> dict[str, Any]:
    """base_rows: the base model's scored rows; arm_rows: arm -> one row list per seed; trained: arm -> the
    families its training data held. Rows are samples.jsonl rows ({benchmark, item_id, axes.family,
    over_context, scores.acc})."""
    base = _by_item(base_rows)
    families: list[str] = []
    for r in base.values():
        if r["axes"]["family"] not in families:
            families.append(r["axes"]["family"])
    cells: dict[str, dict[str, Any]] = {}
    for arm, seeds in arm_rows.items():
        cells[arm] = {}
        per_seed = [_by_item(rows) for rows in seeds]
        for fam in families:
            before, after, clusters, seed_deltas = [], [], [], []
            for ft in per_seed:
                ids = [i for i, r in base.items() if r["axes"]["family"] == fam and i in ft]
                b = [base[i]["scores"][METRIC] for i in ids]
                a = [ft[i]["scores"][METRIC] for i in ids]
                before += b
                after += a
                # one sample under every seed (and at every depth) is one cluster: never counted as independent
                clusters += [cluster_of(base[i]) for i in ids]
                seed_deltas.append(round((sum(a) - sum(b)) / len(ids), 6) if ids else None)
            cell = paired_difference(before, after, clusters)
            cell.update(trained=fam in trained.get(arm, []), seeds=len(seeds), seed_deltas=seed_deltas)
            cells[arm][fam] = cell
    methods = {c.get("method") for row in cells.values() for c in row.values() if c.get("method")}
    # each cell names its own method; the matrix names every one its cells used (McNemar where none was paired)
    return {"metric": METRIC, "method": "; ".join(sorted(methods)) or METHOD_MCNEMAR, "families": families,
            "arms": list(arm_rows), "cells": cells,
            "trained": {arm: sorted(trained.get(arm, [])) for arm in arm_rows}}


def collect_family_matrix(root: Path, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The matrix of a pipeline run (None when it has no family-matrix evaluation or no base evaluation)."""
    stages = manifest["stages"]
    evals = [s for s in stages if s["kind"] == "eval"]
    base = next((s for s in evals if s["label"] == "base"), None)
    if base is None:
        return None
    base_rows = list(read_jsonl(Path(root) / base["folder"] / "samples.jsonl"))
    if not any(r.get("benchmark") == BENCH for r in base_rows):
        return None
    trained: dict[str, list[str]] = {}
    for s in stages:
        if s["kind"] == "generate":
            info = s["info"]
            trained.setdefault(info["arm"], [])
            fams = info.get("trained_families")   # matched by task and format settings at plan time
            for t in (fams if fams is not None else info.get("tasks") or [info.get("task")]):
                if t not in trained[info["arm"]]:
                    trained[info["arm"]].append(t)
    arm_rows: dict[str, list[list[dict]]] = {}
    for arm in manifest["arms"]:
        mine = sorted((s for s in evals if s["label"] != "base" and s["info"].get("arm") == arm),
                      key=lambda s: s["info"].get("seed", -1))
        if mine:
            arm_rows[arm] = [list(read_jsonl(Path(root) / s["folder"] / "samples.jsonl")) for s in mine]
    return family_matrix(base_rows, arm_rows, trained)

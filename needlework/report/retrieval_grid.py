"""kv-retrieval as a depth x length grid, and each model's effective length: report["retrieval"].

The grid is read from results.json's buckets, which for kv-retrieval are the (length, position) cells. A
cell's accuracy is the mean over seeds of that cell's accuracy; its n sums the seeds' scored items. Each
length carries the mean prompt tokens the backend counted (results.json `prompt_tokens_mean`), so lengths
read in tokens whatever the length axis was (dictionaries or target tokens).

Effective length (RULER's idea, Hsieh et al. 2024: the longest length at which a model still passes a fixed
threshold) is here: the longest tested length whose primary-metric accuracy, averaged over depths, is at or
above the threshold there AND at every shorter tested length (a lucky long bucket after a failed shorter one
does not count). It is an absolute threshold (report.effective_length_threshold, default 0.8: the value is
found at least four times in five), the same for every model, so base and fine-tuned are read on one scale;
a threshold relative to the base model's short-context score would be meaningless when the base model
scores near zero (SmolLM2-135M: 0.06). When a model passes at the longest tested length its effective length
is at least that (`censored`); when it fails at the shortest, it is None.

A point estimate on a few items per length is not a measurement on its own (15 of 18 right is 0.83, Wilson
[0.61, 0.94]), so each model's effective length comes with its uncertainty: the deciding length's pooled
count and 95% Wilson interval (and the first failing length's), and a conservative companion, the longest
length whose Wilson *lower* bound is at or above the threshold there and at every shorter length.
"""
from __future__ import annotations

import statistics
from typing import Any

from ..evals.metrics import wilson
from ..evals.paired import design_effect
from ..evals.paired_runs import cluster_of

DEFAULT_THRESHOLD = 0.8


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _order(values: set) -> list:
    return sorted(values, key=lambda v: (0, v, "") if _num(v) else (1, 0, str(v)))


def build_grid(runs: dict[str, list[dict]]) -> dict[str, Any] | None:
    """runs: model -> [kv-retrieval block of each seed's results.json]. None without a length x position grid."""
    first = next(iter(runs.values()))[0]
    metric = first["primary_metric"]
    cells = [b for r in runs.values() for res in r for b in res["buckets"]]
    if not cells or any(set(b["axes"]) != {"length", "position"} for b in cells):
        return None
    lengths = _order({b["axes"]["length"] for b in cells})
    positions = _order({b["axes"]["position"] for b in cells})
    grid: dict[str, Any] = {"metric": metric, "lengths": lengths, "positions": positions,
                            "length_axis": first.get("describe", {}).get("length_axis", "length"),
                            "position_axis": first.get("describe", {}).get("position_axis", "position"),
                            "accuracy": {}, "n": {}, "seeds": {}, "counts": {}}
    tokens: dict[Any, list[float]] = {length: [] for length in lengths}
    for model, results in runs.items():
        acc = [[None] * len(lengths) for _ in positions]
        n = [[0] * len(lengths) for _ in positions]
        for i, pos in enumerate(positions):
            for j, length in enumerate(lengths):
                blocks = [b for res in results for b in res["buckets"]
                          if b["axes"] == {"length": length, "position": pos}]
                accs = [b["metrics"][metric]["accuracy"] for b in blocks
                        if b["metrics"][metric].get("accuracy") is not None]
                acc[i][j] = round(statistics.fmean(accs), 6) if accs else None
                n[i][j] = sum(b["metrics"][metric].get("n") or 0 for b in blocks)
                tokens[length] += [b["prompt_tokens_mean"] for b in blocks if b.get("prompt_tokens_mean")]
        grid["accuracy"][model], grid["n"][model], grid["seeds"][model] = acc, n, len(results)
        grid["counts"][model] = [_pooled(results, metric, length) for length in lengths]
    grid["tokens"] = [round(statistics.fmean(tokens[length]), 1) if tokens[length] else None for length in lengths]
    grid["by_length"] = {m: mean_over_depths(a) for m, a in grid["accuracy"].items()}
    return grid


def _pooled(results: list[dict], metric: str, length: Any) -> list[float]:
    """[correct, n] of one length over every depth and seed (the count its Wilson interval is built on)."""
    blocks = [b["metrics"][metric] for res in results for b in res["buckets"] if b["axes"].get("length") == length]
    return [sum(b.get("correct") or 0 for b in blocks), sum(b.get("n") or 0 for b in blocks)]


def mean_over_depths(acc: list[list[float | None]]) -> list[float | None]:
    """Per length (column): the unweighted mean of the measured depth cells; None if none was measured."""
    out = []
    for j in range(len(acc[0]) if acc else 0):
        col = [row[j] for row in acc if row[j] is not None]
        out.append(round(statistics.fmean(col), 6) if col else None)
    return out


def difference(grid: dict[str, Any], model: str, base: str = "base") -> list[list[float | None]]:
    """Fine-tuned minus base per cell (None where either is unmeasured)."""
    a, b = grid["accuracy"][model], grid["accuracy"][base]
    return [[None if x is None or y is None else round(x - y, 6) for x, y in zip(ra, rb)] for ra, rb in zip(a, b)]


def effective_length(by_length: list[float | None], threshold: float) -> int | None:
    """Index of the longest length that passes with every shorter one passing; None if the shortest fails."""
    best = None
    for j, acc in enumerate(by_length):
        if acc is None or acc < threshold:
            break
        best = j
    return best


def training_length_tokens(data_cards: list[dict], arm: str | None) -> float | None:
    """Mean prompt tokens of the fine-tuned arm's training data (its data cards over seeds)."""
    means = [c["tokens"]["mean"] for c in data_cards if c.get("arm") == arm and c.get("tokens")]
    return round(statistics.fmean(means), 1) if means else None


def retrieval_section(runs: dict[str, list[dict]] | None, data_cards: list[dict], arms: list[str],
                      threshold: float = DEFAULT_THRESHOLD,
                      items: dict[str, list[list[dict]]] | None = None) -> dict[str, Any]:
    """report["retrieval"]: {grid, effective_length}; both None when kv-retrieval was not run on a grid.

    effective_length = {base, finetuned (tokens or None), threshold, training_length_tokens, metric, rule,
    finetuned_arm, by_model: {model: {tokens, length, censored, accuracy_by_length}}, tested_tokens}."""
    grid = build_grid(runs) if runs else None
    if grid is None:
        return {"grid": None, "effective_length": None}
    arm = next((a for a in arms if a in grid["accuracy"]), None)
    by_model = {}
    for model, by_len in grid["by_length"].items():
        j = effective_length(by_len, threshold)
        cells = [_length_cell(grid, model, k, (items or {}).get(model)) for k in range(len(grid["lengths"]))]
        lower = effective_length([c["ci95"][0] if c["n"] else None for c in cells], threshold)
        by_model[model] = {**_at(grid, j), "accuracy_by_length": by_len,
                           "deciding": None if j is None else cells[j],
                           "first_failing": cells[j + 1 if j is not None else 0] if j != len(cells) - 1 else None,
                           "conservative": _at(grid, lower)}
    eff = {"base": (by_model.get("base") or {}).get("tokens"), "finetuned": (by_model.get(arm) or {}).get("tokens"),
           "threshold": threshold, "training_length_tokens": training_length_tokens(data_cards, arm),
           "metric": grid["metric"], "finetuned_arm": arm, "by_model": by_model, "tested_tokens": grid["tokens"],
           "rule": (f"the longest tested length whose {grid['metric']}, averaged over depths, is >= {threshold:g} "
                    "there and at every shorter tested length; in mean prompt tokens")}
    return {"grid": grid, "effective_length": eff}


def _at(grid: dict[str, Any], j: int | None) -> dict[str, Any]:
    return {"tokens": None if j is None else grid["tokens"][j], "length": None if j is None else grid["lengths"][j],
            "censored": j is not None and j == len(grid["lengths"]) - 1}


def _length_cell(grid: dict[str, Any], model: str, j: int, seeds_rows: list[list[dict]] | None) -> dict[str, Any]:
    """One length's pooled count and Wilson interval; with the per-item rows (`seeds_rows`, one list per seed),
    the count is divided by its design effect first: one sample at every depth (and under every seed) is one
    cluster, not several independent items (evals/paired.py)."""
    correct, n = grid["counts"][model][j]
    deff = _design_effect(seeds_rows, grid["lengths"][j], grid["metric"]) if seeds_rows else 1.0
    lo, hi = wilson(correct / deff, n / deff)
    return {"length": grid["lengths"][j], "tokens": grid["tokens"][j], "correct": correct, "n": n,
            "accuracy": round(correct / n, 6) if n else None, "ci95": [round(lo, 6), round(hi, 6)],
            "design_effect": round(deff, 4)}


def _design_effect(seeds_rows: list[list[dict]], length: Any, metric: str) -> float:
    """Design effect of one length's accuracy over depths and seeds (items aligned on id across seeds)."""
    per_seed = [{r["item_id"]: r for r in rows
                 if r.get("axes", {}).get("length") == length and not r.get("over_context")} for rows in seeds_rows]
    ids = [i for i in per_seed[0] if all(i in s for s in per_seed)] if per_seed else []
    if len(ids) < 2:
        return 1.0
    scores = [[s[i]["scores"].get(metric, 0.0) for i in ids] for s in per_seed]
    return design_effect([0.0] * len(ids), scores, [cluster_of(per_seed[0][i]) for i in ids])


def _length_phrase(m: dict[str, Any], eff: dict[str, Any]) -> str:
    if m["length"] is None:
        shortest = next((t for t in eff["tested_tokens"] if t), None)
        return "below the threshold at the shortest tested length" + (f" ({shortest:,.0f} tokens)" if shortest else "")
    tokens = f"{m['tokens']:,.0f} tokens" if m["tokens"] else f"length {m['length']}"
    return (">= " if m["censored"] else "") + tokens + (" (the longest tested)" if m["censored"] else "")


def _cell_phrase(c: dict[str, Any]) -> str:
    deff = c.get("design_effect") or 1.0
    how = "95% Wilson" + (f" with design effect {deff:.2f}:" if deff > 1 else "")
    return (f"{c['correct']:g}/{c['n']} = {c['accuracy']:.2f} [{how} {c['ci95'][0]:.2f}, {c['ci95'][1]:.2f}] "
            f"at {c['tokens']:,.0f} tokens" if c.get("tokens") else f"at length {c['length']}")


def effective_length_text(eff: dict[str, Any] | None, model: str, detail: bool = False) -> str:
    """One reader's phrase for a model's effective length, e.g. '>= 1,402 tokens (the longest tested), 3.8x the
    training length'; with `detail`, followed by its evidence: the deciding and first failing lengths' counts
    with Wilson intervals and the conservative companion (the verdict and the report's paragraph)."""
    if not eff or model not in eff["by_model"]:
        return "not measured"
    m, train = eff["by_model"][model], eff.get("training_length_tokens")
    text = _length_phrase(m, eff)
    if m["length"] is not None and m["tokens"] and train:
        text += f", {m['tokens'] / train:.1f}x the training length"
    evidence = []
    if not detail:
        return text
    if m.get("deciding"):
        evidence.append("decided by " + _cell_phrase(m["deciding"]))
    if m.get("first_failing"):
        evidence.append("first below: " + _cell_phrase(m["first_failing"]))
    if "conservative" in m:
        evidence.append(f"conservatively (Wilson lower bound >= {eff['threshold']:g}): "
                        + _length_phrase(m["conservative"], eff))
    return text + (" (" + "; ".join(evidence) + ")" if evidence else "")


def effective_length_sentence(eff: dict[str, Any] | None) -> str:
    """The report's one sentence on effective length (the verdict's and the retrieval section's): the rule, each
    model's length with its evidence, and the fine-tuned arm's training length; "" without a depth x length grid."""
    if eff is None:
        return ""
    train = eff.get("training_length_tokens")
    return (f"Effective length ({eff['rule']}): "
            + "; ".join(f"{m} {effective_length_text(eff, m, detail=True)}" for m in eff["by_model"])
            + (f"; training prompts of {eff['finetuned_arm']}: {train:,.0f} tokens on average" if train else "")
            + ".")

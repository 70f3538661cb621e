"""write_report: stage outputs -> report.json, plots/*.png, report.html, report.md in the report stage folder.

Section order follows the question a reader asks: did fine-tuning help (the three claims' verdicts, summary,
per-benchmark tables and plots), what did it cost elsewhere (general benchmarks), how did training go (loss curve, loss map), and
what exactly was run (data card, stages, provenance).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..io import atomic_open, write_json
from ..plotting import ARM_COLORS, model_colors, png_bytes, write_png
from . import html as html_r
from . import markdown as md_r
from . import forest, grid_plots, plots, pooled_transfer, probe_curve, tables
from .collect import collect
from .hooks import report_hook
from .verdict_table import HEADER, verdict_rows, verdict_table
from .verdicts import claims
from .retrieval_grid import effective_length_sentence, training_length_tokens


def _summary(rep: dict[str, Any]) -> list[str]:
    lines = []
    for name, bench in rep["benchmarks"].items():
        if report_hook(name).shape != "paired" or "base" not in bench["overall"]:
            continue
        base = bench["overall"]["base"]
        for arm, ch in bench["change"].items():
            ft = bench["overall"][arm]
            line = (f"{name} ({bench['primary_metric']}, all items): base {tables.cell_text(base)} -> "
                    f"{arm} {tables.cell_text(ft)}; change {tables.change_text(ch['overall'])}")
            for m, cells in bench.get("other_metrics", {}).items():   # kv-retrieval: value_dict_acc beside value_acc
                if "base" in cells and arm in cells:
                    line += (f"; {m}: base {tables.cell_text(cells['base'])} -> {arm} {tables.cell_text(cells[arm])}"
                             f", change {tables.change_text(ch.get('metrics', {}).get(m))}")
            miss = ch.get("missing") or {}
            if miss.get("only_before") or miss.get("only_after") or ch.get("n_over_context"):
                line += (f"; not paired: {miss.get('only_before', 0)} items only in base, {miss.get('only_after', 0)} "
                         f"only in {arm}, {ch.get('n_over_context', 0)} over the context")
            lines.append(line)
    return lines


def _retrieval_blocks(rep: dict[str, Any]) -> list[tuple[str, Any]]:
    """kv-retrieval's depth x length heatmap (one per fine-tuned model) and effective-length figure."""
    grid, eff = rep["retrieval"]["grid"], rep["retrieval"]["effective_length"]
    if grid is None:
        return []
    blocks: list[tuple[str, Any]] = []
    arms = [m for m in rep["models"] if m != "base" and m in grid["accuracy"]] or [None]
    for arm in arms:
        fig = grid_plots.heatmap_figure(grid, arm, training_length_tokens(rep["data"], arm))
        name = "kv-retrieval-heatmap" + (f"-{arm}" if len(arms) > 1 else "")
        blocks.append(("png", (name, png_bytes(fig), f"kv-retrieval accuracy by depth and length, {arm or 'base'}")))
    fig = grid_plots.effective_length_figure(grid, eff, rep["models"])
    blocks.append(("png", ("kv-retrieval-effective-length", png_bytes(fig), "kv-retrieval effective length")))
    blocks.append(("p", effective_length_sentence(eff)))
    return blocks


def _pooled_blocks(rep: dict[str, Any]) -> list[tuple[str, Any]]:
    """Per fine-tuned arm: the forest plot of every transfer task's paired change and the pooled diamond, then
    the per-task table (weights, readings) with the pool's tau² and I² under it."""
    arms = rep["transfer_pooled"]["arms"]
    colors = model_colors(rep["models"])
    blocks: list[tuple[str, Any]] = []
    for arm, ap in arms.items():
        name = "transfer-forest" + (f"-{arm}" if len(arms) > 1 else "")
        png = forest.forest_png(arm, ap, colors.get(arm, ARM_COLORS[0]))
        blocks += [("png", (name, png, f"forest plot of claim 2, {arm}")),
                   ("table", pooled_transfer.suite_table(arm, ap))]
        companion = pooled_transfer.companion_sentence(rep["benchmarks"], arm)
        if companion:
            blocks.append(("p", companion + "."))
    return blocks


def head_map_blocks(root: Path, folder: str | Path) -> list[tuple[str, Any]]:
    """Report blocks for a `heads` output folder (relative to the run root): the heatmaps and tables of the
    top and most-changed heads, in `add(heading, blocks)` form, read from the heads.json and PNGs that
    needlework.probes.head_maps wrote (the report loads no model)."""
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


def write_report(root: Path, manifest: dict[str, Any], folder: Path) -> dict[str, Any]:
    root, folder = Path(root), Path(folder)
    rep = collect(root, manifest)
    rep["claims"] = claims(rep)
    rep["verdict"] = {"header": HEADER, "rows": verdict_rows(rep)}   # what `needlework run` prints at its end
    write_json(folder / "report.json", rep)
    rel = folder.relative_to(root)
    h_sections: list[tuple[str, list]] = []
    m_sections: list[tuple[str, list]] = []

    def add(heading: str, blocks: list[tuple[str, Any]]) -> None:
        """blocks may hold ('png', (name, bytes, alt)): embedded in HTML, saved and linked in Markdown."""
        h, m = [], []
        for kind, payload in blocks:
            if kind == "png":
                name, png, alt = payload
                write_png(folder / "plots" / f"{name}.png", png)
                h.append(("img", (png, alt)))
                m.append(("img", (f"{rel}/plots/{name}.png", alt)))
            elif kind == "file-png":
                path, alt = payload
                h.append(("img", ((root / path).read_bytes(), alt)))
                m.append(("img", (path, alt)))
            else:
                h.append((kind, payload))
                m.append((kind, payload))
        h_sections.append((heading, h))
        m_sections.append((heading, m))

    models = rep["models"]
    add("verdict: the paper's three claims", [("table", verdict_table(rep))] + [("p", text) for text in rep["claims"]])
    if rep.get("transfer_pooled"):   # claim 2 across the suite: the forest plot and its table per arm
        add("claim 2: the transfer suite, per task and pooled", _pooled_blocks(rep))
    add("summary", [("p", line) for line in _summary(rep)] or [("p", "no before/after comparison in this run")])
    for name, bench in rep["benchmarks"].items():
        hook = report_hook(name)
        if hook.shape != "paired":   # table1 (general): its own section below
            continue
        d = bench["describe"]
        unit = f"; lengths in {d['length_unit']}" if d.get("length_unit") else ""
        label = tables.benchmark_label(name, bench)
        layout = f"; layout: {d['layout']}" if d.get("layout") else ""
        blocks: list[tuple[str, Any]] = [("p", f"data: {d.get('data_source', '')}{unit}{layout}")]
        for axis in bench["axes"]:
            blocks.append(("png", (f"{name}-by-{axis}", plots.accuracy_by_axis(name, bench, axis, models),
                                   f"{name} accuracy by {axis}")))
        if hook.section == "retrieval-grid":
            blocks += _retrieval_blocks(rep)
        blocks += [("table", t) for t in tables.benchmark_tables(label, bench, models)]
        companion = tables.companion_table(label, bench)
        if companion:
            blocks.append(("table", companion))
        if hook.section == "family-matrix" and rep.get("family_matrix"):   # arms x families, paired changes
            matrix = rep["family_matrix"]
            blocks += [("table", tables.family_matrix_table(matrix)),
                       ("png", ("family-matrix", plots.family_matrix_heatmap(matrix), "family matrix heatmap"))]
        add(label, blocks)
    for name, bench in rep["benchmarks"].items():
        if report_hook(name).shape == "table1":
            add(report_hook(name).label, [("table", tables.table1(bench, models))])
    train_blocks: list[tuple[str, Any]] = []
    curve = plots.training_loss(rep["training"])
    if curve:
        train_blocks.append(("png", ("training-loss", curve, "training loss curve")))
    train_blocks.append(("table", tables.training_table(rep["training"])))
    probe_png = probe_curve.curve_png(rep["training"])
    if probe_png:   # synthetic held-out and the MDQA probe against the step: where each levelled off
        train_blocks.append(("png", ("probe-curve", probe_png, "the probe curve")))
        train_blocks += [("p", f"probe curve, {t['arm']} seed {t['seed']}: {probe_curve.reading(t['curve'])}")
                         for t in rep["training"] if t.get("curve")]
    add("training", train_blocks)
    if rep["loss_maps"]:
        lm_blocks: list[tuple[str, Any]] = []
        for lm in rep["loss_maps"]:
            lm_blocks.append(("p", f"{lm['role']} ({lm['model']}): " + "; ".join(
                f"{k}: mean loss {tables.num(v.get('mean_loss'))}, value tokens "
                f"{tables.num(v.get('value_tokens_mean_loss'))}, format tokens "
                f"{tables.num(v.get('format_tokens_mean_loss'))}" for k, v in (lm.get("summary") or {}).items())))
            lm_blocks.append(("file-png", (lm["png"], f"token-level loss map, {lm['role']}")))
        add("token-level loss map", lm_blocks)
    else:
        add("token-level loss map", [("p", "not produced in this run (report.loss_map is off, the training backend "
                                           "is not hf, or needlework.probes.loss_map is unavailable)")])
    for heads_dir in rep.get("head_maps") or []:   # retrieval heads: which heads copy the needle, before vs after
        add("retrieval heads", head_map_blocks(root, heads_dir))
    mix = tables.mixture_table(rep["data"])
    add("data card", [("table", tables.data_table(rep["data"]))] + ([("table", mix)] if mix else []))
    prov = rep["provenance"]
    add("provenance", [("table", tables.timing_table(rep["stage_seconds"], rep["stage_keys"])),
                       ("table", tables.evaluated_table(rep.get("evaluated") or {})),
                       ("pre", {k: prov.get(k) for k in ("config_hash", "git", "created", "python", "platform",
                                                          "versions", "argv")}),
                       ("p", f"resolved config: {root / 'run_config.yaml'}; evaluation results: "
                             + ", ".join(f"{m}: {', '.join(v)}" for m, v in rep["sources"].items()))])
    with atomic_open(folder / "report.html") as f:
        f.write(html_r.render(rep["title"], h_sections))
    with atomic_open(folder / "report.md") as f:
        f.write(md_r.render(rep["title"], m_sections))
    return rep

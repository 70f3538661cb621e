"""Items each measure needs, exact match against the companion measures, from two evaluations of the same items.

Give an evaluation of the base model and one of the fine-tuned model on a dev half (e.g. `needlework eval
model=... benchmarks=[mdqa] mdqa.split=dev mdqa.k=5`); for each measure the script pairs the per-item scores of
samples.jsonl and prints the change, the sd of the per-item differences, the standardised effect, the design
effect of the layout, the items needed to detect that change (two-sided 5%, 80% power) and, with --half-width,
the items for a 95% interval of that half-width (needlework.evals.power). One line then reads
"context gain needs N items where exact match needs M".

  .venv/bin/python scripts/companion_power.py runs/base-dev runs/tuned-dev --benchmark mdqa \
      --half-width best_subspan_em=0.05 --half-width context_gain=0.5 --json power.json
"""
from __future__ import annotations

import argparse
import json
import sys

from needlework.evals.paired_runs import item_rows
from needlework.evals.power import power_table

METRICS = {"mdqa": ("best_subspan_em", "context_gain", "preference")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", help="eval run folder of the base model")
    ap.add_argument("after", help="eval run folder of the fine-tuned model (same items)")
    ap.add_argument("--benchmark", default="mdqa")
    ap.add_argument("--metrics", help="comma-separated (default: the primary metric, context_gain, preference)")
    ap.add_argument("--half-width", action="append", default=[], metavar="METRIC=H")
    ap.add_argument("--json", help="write the table here too")
    a = ap.parse_args(argv)
    before, after = item_rows(a.before).get(a.benchmark), item_rows(a.after).get(a.benchmark)
    if not before or not after:
        print(f"companion_power: no {a.benchmark} rows in both runs' samples.jsonl", file=sys.stderr)
        return 1
    metrics = a.metrics.split(",") if a.metrics else list(METRICS.get(a.benchmark) or
                                                           [next(iter(before[0]["scores"])), "context_gain", "preference"])
    widths = {k: float(v) for k, v in (hw.split("=", 1) for hw in a.half_width)}
    table = power_table(before, after, metrics, widths)
    print(f"{'measure':<18} {'n':>5} {'change':>9} {'sd diff':>8} {'effect':>7} {'deff':>5} {'to detect':>9} "
          f"{'for ±h':>8}")
    for m, r in table.items():
        hw = f"{r['items_for_half_width']:>8} (±{r['half_width']:g})" if "items_for_half_width" in r else ""
        print(f"{m:<18} {r['n']:5d} {r['mean_diff']:+9.3f} {r['sd_diff']:8.3f} {r['effect']:+7.3f} "
              f"{r['design_effect']:5.2f} {str(r['items_to_detect']):>9} {hw}")
    primary = metrics[0]
    for m in metrics[1:]:
        if m in table and primary in table:
            print(f"{m} needs {table[m]['items_to_detect']} items where {primary} needs "
                  f"{table[primary]['items_to_detect']} to detect the change each showed here")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(table, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

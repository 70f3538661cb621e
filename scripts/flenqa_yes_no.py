"""FLenQA's reader, checked for fairness on finished evaluations: the spec's reader (the last of true/false;
neither -> wrong) against the same reader that also takes a leading yes/no when neither word occurs.

    python scripts/flenqa_yes_no.py <run>/eval base-<key> mix-formats-s0-<key> ...

Reads each folder's samples.jsonl (nothing is re-run). samples.jsonl keeps the score, not the label, so a label
is recovered from any run that parsed the item as true or false."""
import json
import re
import sys
from pathlib import Path

root = Path(sys.argv[1]); runs = sys.argv[2:]
data = {}
for run in runs:
    data[run] = {}
    for l in open(root / run / "samples.jsonl"):
        r = json.loads(l)
        if r.get("benchmark") in ("flenqa", "flenqa-cot"):
            data[run][(r["benchmark"], r["item_id"])] = r
labels = {}
for run in runs:
    for k, r in data[run].items():
        if r["parsed"] in ("true", "false"):
            labels[k] = r["parsed"] if r["scores"]["accuracy"] == 1 else ("false" if r["parsed"] == "true" else "true")
def yn(r):
    m = re.match(r"\W*(yes|no)\b", r["output"].strip().lower()) if r["parsed"] == "other" else None
    return ("true" if m.group(1) == "yes" else "false") if m else r["parsed"]
for bench in ("flenqa", "flenqa-cot"):
    keys = [k for k in data[runs[0]] if k[0] == bench]
    for run in runs:
        d = data[run]
        spec = sum(d[k]["scores"]["accuracy"] for k in keys) / len(keys)
        known = [k for k in keys if k in labels]
        loose = sum((yn(d[k]) == labels[k]) if k in labels else d[k]["scores"]["accuracy"] for k in keys) / len(keys)
        print(f"{bench:10s} {run[:22]:22s} spec {spec:.3f}  yes/no read {loose:.3f}  (labels known {len(known)}/{len(keys)})")

"""The cases scripts/fault_injection.py runs: bad inputs and faults for every `needlework` subcommand (and,
from scripts/fault_cases_state.py, those about what outlives a command).

Arguments may name fixtures as `{model}` (tiny random Llama), `{trunc}` (its weights cut to half) and
`{data}` (4 simple_kv rows); paths without a placeholder are relative to the case's own folder."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from fault_cases_state import CASES as STATE_CASES
from fault_harness import Case, build_tiny_model, run_cli

KEY = "sk-proj-FAULTINJECTIONabcdef0123456789"   # a fake key that must never be written anywhere
DIR = object()                                 # files(): make a directory
ROOT_SKIP = (lambda: "running as root: permissions are not enforced" if os.geteuid() == 0 else None)
BAD_JSON = '{"messages": [{"role": "user", "content": "hi"}\n'
NON_UTF8 = b'{"messages": [{"role": "user", "content": "caf\xe9 \xff\xfe"}]}\n'
BINARY = bytes(range(256)) * 8
EV = ["kv_retrieval.n=1", "kv_retrieval.num_dicts=[3]", "kv_retrieval.depths=[0.0]", "kv_retrieval.max_new_tokens=4"]
TR = ["--max-steps", "1", "progress=false", "num_threads=1", "save_steps=1"]


def files(spec: dict, mode: dict | None = None):
    """A setup that writes `spec` {name: str | bytes | DIR} into the case folder (then chmods `mode`)."""
    def setup(fx, cwd: Path):
        for name, content in spec.items():
            p = cwd / name
            p.parent.mkdir(parents=True, exist_ok=True)
            if content is DIR:
                p.mkdir(exist_ok=True)
            elif isinstance(content, bytes):
                p.write_bytes(content)
            else:
                p.write_text(content)
        for name, m in (mode or {}).items():
            os.chmod(cwd / name, m)
    return setup


def no_key_written(fx, cwd: Path, r) -> str | None:
    """The pasted key is in no file the command wrote (all under its folder) but the config that held it, nor
    on the terminal."""
    for p in cwd.rglob("*"):
        if p.is_file() and p.name != "key.yaml" and KEY.encode() in p.read_bytes():
            return f"the key was written to {p.relative_to(cwd)}"
    if KEY in r.stdout + r.stderr:
        return "the key was echoed on the terminal"
    return None


def good_copy(name: str):
    """A setup that copies the fixture `name` here as `input.jsonl` after appending a bad JSON line."""
    def setup(fx, cwd: Path):
        (cwd / "input.jsonl").write_text(Path(fx[name]).read_text() + BAD_JSON)
    return setup


# --------------------------------------------------------------------- multi-step cases
def _eval_seeds(fx, cwd: Path):
    for s in (0, 1):
        fx.cli(["eval", "--model", "{model}", "--out", f"s{s}", "--seed", str(s), *EV], cwd)


def _concurrent_setup(fx, cwd: Path):
    """A first eval into `shared` holds its lock (a bigger grid, so it is still running) when the case starts."""
    bg = run_cli(fx.expand(["eval", "--model", "{model}", "--out", "shared", "kv_retrieval.n=6",
                            "kv_retrieval.num_dicts=[3,6]", "kv_retrieval.max_new_tokens=32"]), cwd, 300, True)
    fx.built["_bg"] = bg
    t0 = time.monotonic()
    while not (cwd / "shared" / ".lock").exists():
        if bg.poll() is not None or time.monotonic() - t0 > 120:
            raise RuntimeError(f"the first eval never took the lock (rc {bg.poll()}): {bg.stderr.read()[-300:]}")
        time.sleep(0.05)


def _concurrent_check(fx, cwd: Path, r) -> str | None:
    bg = fx.built.pop("_bg")
    _, err = bg.communicate(timeout=300)
    if bg.returncode != 0:
        return f"the first eval failed too (rc {bg.returncode}): {err.strip().splitlines()[-1:]}"
    return None


def _retrain_setup(fx, cwd: Path):
    shutil.copytree(fx["model"], cwd / "m")
    fx.cli(["eval", "--model", "m", "--out", "ev", *EV], cwd)
    fx.built["_before"] = (_results(cwd)["provenance"]["weights_sha256"], _cache_keys(cwd))
    build_tiny_model(cwd / "m", seed=1)   # "retrained in place": new weights in the same folder


def _retrain_check(fx, cwd: Path, r) -> str | None:
    sha, keys = fx.built.pop("_before")
    if r.rc != 0:
        return None
    if _results(cwd)["provenance"]["weights_sha256"] == sha:
        return "results.json still names the old weights_sha256"
    if not _cache_keys(cwd) - keys:
        return "no completion was recomputed: the cache of the old weights was reused"
    return None


def _results(cwd: Path) -> dict:
    return json.loads((cwd / "ev" / "results.json").read_text())


def _cache_keys(cwd: Path) -> set:
    return {json.loads(x)["key"] for x in (cwd / "ev" / "cache.jsonl").read_text().splitlines() if x.strip()}


def _garbage_cache_setup(fx, cwd: Path):
    fx.cli(["eval", "--model", "{model}", "--out", "ev", "kv_retrieval.n=2", *EV[1:]], cwd)
    lines = (cwd / "ev" / "cache.jsonl").read_text().splitlines(keepends=True)
    (cwd / "ev" / "cache.jsonl").write_text(lines[0] + "}{ not json at all\n" + "".join(lines[1:]))
    (cwd / "ev" / "results.json").unlink()   # as if interrupted before the end


def _interrupted_train_setup(fx, cwd: Path):
    """A finished 2-step run made to look interrupted: no done.json, and a checkpoint-3 whose save was cut
    short (no trainer_state.json) beside the complete checkpoint-2."""
    fx.cli(["train", "--model", "{model}", "--data", "{data}", "--out", "tr", *TR, "--max-steps", "2"], cwd)
    (cwd / "tr" / "done.json").unlink()
    ck = cwd / "tr" / "checkpoints"
    shutil.copytree(ck / "checkpoint-2", ck / "checkpoint-3")
    (ck / "checkpoint-3" / "trainer_state.json").unlink()


def _resumed_check(fx, cwd: Path, r) -> str | None:
    ck = cwd / "tr" / "checkpoints"
    if r.rc == 0 and (ck / "checkpoint-3").exists() and not (ck / "checkpoint-3.incomplete").exists():
        return "the incomplete checkpoint-3 is still where a later resume would pick it"
    return None


def _umask_check(fx, cwd: Path, r) -> str | None:
    mask = os.umask(0)
    os.umask(mask)
    mode = (cwd / "d.jsonl").stat().st_mode & 0o777 if r.rc == 0 else None
    return None if mode in (None, 0o666 & ~mask) else f"d.jsonl has mode {mode:o}, not {0o666 & ~mask:o} (umask {mask:03o})"


def _lr_check(fx, cwd: Path, r) -> str | None:
    saved = (cwd / "tr" / "train_config.yaml").read_text() if (cwd / "tr" / "train_config.yaml").exists() else ""
    return None if "lr: 0.0003" in saved else "lr=3e-4 is not in the saved train_config.yaml"


# --------------------------------------------------------------------- the list
def C(name, args, expect="fail", **kw) -> Case:
    if args[0] == "validate":   # validate refuses with its one-line report on stdout, exit 1, by design
        kw.setdefault("report", r": INVALID at ")
    return Case(name, args, expect, **kw)


GEN = ["generate", "--n", "2", "--out", "g.jsonl", "-q"]
CASES = [
    # generate: absurd sizes, bad settings, file-system errors
    C("gen-ok", GEN, "ok", quick=True),
    C("gen-num-dict-huge", GEN + ["params.num_dict=100000000"], quick=True),
    C("gen-dict-len-huge", GEN + ["params.dict_len=[1,100000000]"], quick=True),
    # 10^12 rows: refused up front or a hang (it writes ~20 MB/s, so the timeout stays short)
    C("gen-n-huge", ["generate", "--n", "1000000000000", "--out", "g.jsonl", "-q"], timeout=20),
    C("gen-honours-umask", ["generate", "--n", "2", "--out", "d.jsonl", "-q"], "ok", check=_umask_check, quick=True),
    C("gen-n-0", ["generate", "--n", "0", "--out", "g.jsonl"], quick=True),
    C("gen-unknown-key", GEN + ["nn=3"], quick=True),
    C("gen-unknown-param", GEN + ["params.num_dicts=3"]),
    C("gen-wrong-type", GEN + ["params.num_dict=abc"], quick=True),
    C("gen-overrides-before-flags", ["generate", "params.num_dict=3", "--n", "2", "--out", "g.jsonl"], "ok"),
    C("gen-config-dup-key", ["generate", "-c", "c.yaml"], setup=files({"c.yaml": "n: 2\nout: g.jsonl\nn: 3\n"})),
    C("gen-config-non-utf8", ["generate", "-c", "c.yaml"], setup=files({"c.yaml": b"n: 2\nsystem: caf\xe9\xff\n"})),
    C("gen-config-binary", ["generate", "-c", "c.yaml"], setup=files({"c.yaml": BINARY})),
    C("gen-config-missing", ["generate", "-c", "nope.yaml"], quick=True),
    C("gen-config-is-dir", ["generate", "-c", "cfg.yaml"], setup=files({"cfg.yaml": DIR})),
    C("gen-out-is-dir", ["generate", "--n", "2", "--out", "d.jsonl"], setup=files({"d.jsonl": DIR})),
    C("gen-out-parent-is-file", ["generate", "--n", "2", "--out", "f/g.jsonl"], setup=files({"f": "x"})),
    C("gen-out-unwritable", ["generate", "--n", "2", "--out", "ro/g.jsonl"], setup=files({"ro": DIR}, {"ro": 0o555}),
      skip=ROOT_SKIP),
    C("gen-tokenizer-misspelled", GEN + ["--tokenizer", "smollm2-135m-instrct"]),
    C("gen-shard-out-of-range", GEN + ["--shard", "5/2"]),
    # validate / show
    C("validate-ok", ["validate", "{data}"], "ok"),
    C("validate-empty-file", ["validate", "e.jsonl"], setup=files({"e.jsonl": ""}), quick=True),
    C("validate-blank-lines", ["validate", "e.jsonl"], setup=files({"e.jsonl": "\n\n"})),
    C("validate-missing", ["validate", "nope.jsonl"], quick=True),
    C("validate-dir", ["validate", "d.jsonl"], setup=files({"d.jsonl": DIR})),
    C("validate-binary", ["validate", "b.jsonl"], setup=files({"b.jsonl": BINARY})),
    C("validate-non-utf8", ["validate", "n.jsonl"], setup=files({"n.jsonl": NON_UTF8})),
    C("validate-bad-json-line", ["validate", "input.jsonl"], setup=good_copy("data")),
    C("show-ok", ["show", "{data}", "1", "--no-color"], "ok"),
    C("show-empty-file", ["show", "e.jsonl"], setup=files({"e.jsonl": ""}), quick=True),
    C("show-index-out-of-range", ["show", "{data}", "99"], quick=True),
    C("show-missing", ["show", "nope.jsonl"], quick=True),
    C("show-dir", ["show", "d.jsonl"], setup=files({"d.jsonl": DIR})),
    C("show-binary", ["show", "b.jsonl"], setup=files({"b.jsonl": BINARY})),
    C("show-non-utf8", ["show", "n.jsonl"], setup=files({"n.jsonl": NON_UTF8})),
    C("show-bad-json-line", ["show", "input.jsonl", "4"], setup=good_copy("data")),
    # eval: settings that measure nothing, bad models, bad folders, the key, concurrency, stale caches
    C("eval-max-new-tokens-0", ["eval", "--model", "{model}", "--out", "ev", *EV[:3],
                                "kv_retrieval.max_new_tokens=0"], quick=True),
    C("eval-limit-0", ["eval", "--model", "{model}", "--out", "ev", "--limit", "0", *EV], quick=True),
    C("eval-limit-negative", ["eval", "--model", "{model}", "--out", "ev", "--limit", "-1", *EV], quick=True),
    C("eval-no-benchmarks", ["eval", "--model", "{model}", "--out", "ev", "--benchmarks", ",", *EV]),
    C("eval-benchmark-misspelled", ["eval", "--model", "{model}", "--out", "ev", "--benchmarks", "kv-retreival", *EV]),
    C("eval-num-dicts-huge", ["eval", "--model", "{model}", "--out", "ev", *EV[:1],
                              "kv_retrieval.num_dicts=[100000000]"], timeout=90),
    C("eval-unknown-key", ["eval", "--model", "{model}", "--out", "ev", *EV, "kv_retrieval.max_tokens=4"]),
    C("eval-wrong-type", ["eval", "--model", "{model}", "--out", "ev", *EV, "kv_retrieval.n=many"]),
    C("eval-no-model", ["eval", "--out", "ev", *EV]),
    C("eval-model-missing", ["eval", "--model", "no/such/folder", "--out", "ev", *EV]),
    C("eval-model-misspelled", ["eval", "--model", "smollm2-135m-instrct", "--out", "ev", *EV]),
    C("eval-model-truncated", ["eval", "--model", "{trunc}", "--out", "ev", *EV]),
    C("eval-out-is-file", ["eval", "--model", "{model}", "--out", "f", *EV], setup=files({"f": "x"})),
    C("eval-out-parent-is-file", ["eval", "--model", "{model}", "--out", "f/ev", *EV], setup=files({"f": "x"})),
    C("eval-out-unwritable", ["eval", "--model", "{model}", "--out", "ro/ev", *EV],
      setup=files({"ro": DIR}, {"ro": 0o555}), skip=ROOT_SKIP),
    C("eval-overrides-split-by-flags", ["eval", "--out", "ev", *EV[:2], "--model", "{model}", *EV[2:]], "ok"),
    C("eval-api-key-override", ["eval", "--model", "{model}", "--out", "ev", *EV, f"backend.openai.api_key_env={KEY}"],
      check=no_key_written, quick=True),
    C("eval-api-key-yaml", ["eval", "-c", "key.yaml", "--model", "{model}", "--out", "ev", *EV],
      setup=files({"key.yaml": f"backend:\n  kind: openai\n  openai:\n    api_key_env: {KEY}\n"}),
      check=no_key_written),
    C("eval-concurrent-same-out", ["eval", "--model", "{model}", "--out", "shared", *EV],
      setup=_concurrent_setup, check=_concurrent_check, timeout=180),
    C("eval-garbage-cache-line", ["eval", "--model", "{model}", "--out", "ev", "kv_retrieval.n=2", *EV[1:]], "either",
      setup=_garbage_cache_setup),
    C("eval-model-retrained-in-place", ["eval", "--model", "m", "--out", "ev", *EV], "ok",
      setup=_retrain_setup, check=_retrain_check),
    # compare
    C("compare-seed-0-vs-seed-1", ["compare", "s0", "s1"], setup=_eval_seeds),
    C("compare-jsonl", ["compare", "{data}", "{data}"], quick=True),
    C("compare-missing", ["compare", "nope-a", "nope-b"], quick=True),
    C("compare-empty-dirs", ["compare", "a", "b"], setup=files({"a": DIR, "b": DIR})),
    C("compare-bad-results-json", ["compare", "a", "b"],
      setup=files({"a/results.json": "{not json", "b/results.json": '{"benchmarks": 3}'})),
    # train
    C("train-empty-data", ["train", "--model", "{model}", "--data", "e.jsonl", "--out", "tr", *TR],
      setup=files({"e.jsonl": ""})),
    C("train-data-missing", ["train", "--model", "{model}", "--data", "nope.jsonl", "--out", "tr", *TR]),
    C("train-data-dir", ["train", "--model", "{model}", "--data", "d.jsonl", "--out", "tr", *TR],
      setup=files({"d.jsonl": DIR})),
    C("train-data-binary", ["train", "--model", "{model}", "--data", "b.jsonl", "--out", "tr", *TR],
      setup=files({"b.jsonl": BINARY})),
    C("train-data-non-utf8", ["train", "--model", "{model}", "--data", "n.jsonl", "--out", "tr", *TR],
      setup=files({"n.jsonl": NON_UTF8})),
    C("train-data-bad-json-line", ["train", "--model", "{model}", "--data", "input.jsonl", "--out", "tr", *TR],
      setup=good_copy("data")),
    C("train-model-missing", ["train", "--model", "no/such/folder", "--data", "{data}", "--out", "tr", *TR]),
    C("train-model-misspelled", ["train", "--model", "smollm2-135m-instrct", "--data", "{data}", "--out", "tr", *TR]),
    C("train-model-truncated", ["train", "--model", "{trunc}", "--data", "{data}", "--out", "tr", *TR]),
    C("train-lora-r-0", ["train", "--model", "{model}", "--data", "{data}", "--out", "tr", "--params", "lora",
                         "lora.r=0", *TR]),
    C("train-lora-unknown-targets", ["train", "--model", "{model}", "--data", "{data}", "--out", "tr", "--params",
                                     "lora", "lora.target_modules=[no_such_proj]", *TR]),
    C("train-unknown-key", ["train", "--model", "{model}", "--data", "{data}", "--out", "tr", "lora.rank=4", *TR]),
    C("train-wrong-type", ["train", "--model", "{model}", "--data", "{data}", "--out", "tr", "lr=fast", *TR]),
    C("train-out-is-file", ["train", "--model", "{model}", "--data", "{data}", "--out", "f", *TR],
      setup=files({"f": "x"})),
    C("train-override-after-data", ["train", "--data", "{data}", "lr=3e-4", "--model", "{model}", "--out", "tr", *TR],
      "ok", check=_lr_check),
    C("train-override-before-data", ["train", "lr=3e-4", "--data", "{data}", "--model", "{model}", "--out", "tr", *TR],
      "ok", check=_lr_check),
    C("train-resume-incomplete-checkpoint", ["train", "--model", "{model}", "--data", "{data}", "--out", "tr", *TR,
                                             "--max-steps", "2", "--resume"], "ok",
      setup=_interrupted_train_setup, check=_resumed_check, timeout=180),
    # loss-map / heads
    C("loss-map-model-missing", ["loss-map", "--model", "no/such/folder", "--data", "{data}", "--out", "lm"]),
    C("loss-map-model-misspelled", ["loss-map", "--model", "smollm2-135m-instrct", "--data", "{data}", "--out", "lm"]),
    C("loss-map-model-truncated", ["loss-map", "--model", "{trunc}", "--data", "{data}", "--out", "lm", "--n", "1"]),
    C("loss-map-empty-data", ["loss-map", "--model", "{model}", "--data", "e.jsonl", "--out", "lm"],
      setup=files({"e.jsonl": ""})),
    C("loss-map-out-is-file", ["loss-map", "--model", "{model}", "--data", "{data}", "--out", "f", "--n", "1"],
      setup=files({"f": "x"})),
    C("loss-map-no-gold-meta", ["loss-map", "--model", "{model}", "--data", "p.jsonl", "--out", "lm"],
      setup=files({"p.jsonl": json.dumps({"messages": [{"role": "user", "content": "2+2?"},
                                                        {"role": "assistant", "content": "4"}]}) + "\n"})),
    C("loss-map-n-0", ["loss-map", "--model", "{model}", "--data", "{data}", "--out", "lm", "--n", "0"]),
    C("heads-model-missing", ["heads", "--model", "no/such/folder", "--data", "{data}", "--out", "h", "--n", "1"]),
    C("heads-compare-missing", ["heads", "--model", "{model}", "--data", "{data}", "--out", "h", "--n", "1",
                                "--compare", "no/such/folder"]),
    C("heads-compare-misspelled", ["heads", "--model", "{model}", "--data", "{data}", "--out", "h", "--n", "1",
                                   "--compare", "smollm2-135m-instrct"]),
    C("heads-model-truncated", ["heads", "--model", "{trunc}", "--data", "{data}", "--out", "h", "--n", "1"]),
    C("heads-empty-data", ["heads", "--model", "{model}", "--data", "e.jsonl", "--out", "h"],
      setup=files({"e.jsonl": ""})),
    C("heads-out-is-file", ["heads", "--model", "{model}", "--data", "{data}", "--out", "f", "--n", "1"],
      setup=files({"f": "x"})),
    C("heads-n-0", ["heads", "--model", "{model}", "--data", "{data}", "--out", "h", "--n", "0"]),
    # run (always --dry-run: nothing here may start the whole pipeline)
    C("run-dry-ok", ["run", "--dry-run", "root=runs"], "ok"),
    C("run-config-dup-key", ["run", "r.yaml", "--dry-run"], setup=files({"r.yaml": "name: a\nroot: runs\nname: b\n"})),
    C("run-config-non-utf8", ["run", "r.yaml", "--dry-run"], setup=files({"r.yaml": b"name: caf\xe9\xff\n"})),
    C("run-config-missing", ["run", "nope.yaml", "--dry-run"]),
    C("run-preset-unknown", ["run", "--preset", "nope", "--dry-run"]),
    C("run-unknown-key", ["run", "--dry-run", "root=runs", "trian.lr=1e-4"], quick=True),
    C("run-wrong-type", ["run", "--dry-run", "root=runs", "train.lr=fast"]),
    C("run-max-new-tokens-0", ["run", "--dry-run", "root=runs", "eval.kv_retrieval.max_new_tokens=0"]),
    C("run-limit-0", ["run", "--dry-run", "root=runs", "eval.limit=0"]),
    C("run-api-key", ["run", "--dry-run", "root=runs", f"backend.openai.api_key_env={KEY}"], check=no_key_written),
    C("run-lora-r-0", ["run", "--dry-run", "root=runs", "train.params=lora", "train.lora.r=0"]),
]
CASES += STATE_CASES   # issue 32: inputs kept, locks, reuse by content, replies, secrets, one-line errors

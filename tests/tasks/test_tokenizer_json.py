"""The transformers-free tokenizer loader: token ids, specials and chat-rendered text identical to transformers'
AutoTokenizer; the once-per-folder check; and `needlework generate --tokenizer` never importing torch."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from needlework.tasks.tokenization import loader_agreement
from needlework.tasks.files.dataset import GenerateConfig, SampleMaker
from needlework.tasks.tokenization.loader_agreement import PROBES, load_checked
from needlework.tasks.tokenization.tokenizer_json import from_tokenizer_json
from needlework.tasks.tokenization.tokens import from_hf, load_counting_tokenizer

REPO = Path(__file__).resolve().parents[2]
SYSTEMS = (None, "You are a careful assistant.")


def _kv_prompts():
    gen = SampleMaker(GenerateConfig(task="simple_kv", n=3, seed=0, params={"num_dict": 5}))
    return [gen.sample(i).prompt for i in range(3)]


def _hf(folder):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(folder)


def _assert_same_as_transformers(folder, extra_texts=()):
    hf = _hf(folder)
    fast, ref = from_tokenizer_json(folder, "t"), from_hf(hf, "t")
    texts = [*PROBES, *_kv_prompts(), *extra_texts, *hf.all_special_tokens]
    for t in texts:
        assert fast.encode(t) == ref.encode(t), t
        assert fast.encode(t) == hf(t, add_special_tokens=False)["input_ids"]
    assert fast.n_added_special == ref.n_added_special
    assert (fast.wrap_chat is None) == (hf.chat_template is None)
    if fast.wrap_chat is not None:
        for t in texts[:4]:
            for system in SYSTEMS:
                msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": t}]
                text = hf.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
                assert fast.wrap_chat(t, system) == text
                ids = hf.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True)["input_ids"]
                assert fast.encode(fast.wrap_chat(t, system)) == ids
    return fast


def test_smollm2_plain_and_chatml_equal_transformers(smollm2_tokenizer_dir):
    fast = _assert_same_as_transformers(smollm2_tokenizer_dir)
    assert fast.wrap_chat("hi", None).startswith("<|im_start|>system\nYou are a helpful AI assistant")
    assert fast.wrap_chat("hi", "Be brief.") == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi"
                                                 "<|im_end|>\n<|im_start|>assistant\n")


def test_tiny_test_tokenizers_equal_transformers(tiny_model_dir, tiny_model_no_template_dir):
    assert _assert_same_as_transformers(tiny_model_dir).wrap_chat is not None
    assert _assert_same_as_transformers(tiny_model_no_template_dir).wrap_chat is None


TEMPLATE = """{%- set ns = namespace(n=0) -%}
{{ bos_token }}{% for m in messages %}
  {% if m['role'] not in ['system', 'user'] %}{{ raise_exception('bad role') }}{% endif %}
  {% if m['content'] == 'skip' %}{% continue %}{% endif %}
  {% set ns.n = ns.n + 1 %}
[{{ m['role'] | upper }} {{ ns.n }}] {{ m['content'] | trim }} {{ {'k': m['content'][:3]} | tojson }}
{% endfor %}
{% if add_generation_prompt %}{% generation %}[ASSISTANT]{% endgeneration %}{{ eos_token }}{% endif %}"""


def test_config_templates_and_added_special_tokens(tmp_path, smollm2_tokenizer_dir):
    """Templates stored in the config as a named list, whitespace control, namespace, loop controls, the
    `generation` tag, tojson, and a special token the config names but tokenizer.json lacks."""
    folder = tmp_path / "tok"
    folder.mkdir()
    shutil.copy(smollm2_tokenizer_dir / "tokenizer.json", folder)
    config = json.loads((smollm2_tokenizer_dir / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    config["chat_template"] = [{"name": "default", "template": TEMPLATE}, {"name": "tool_use", "template": "x"}]
    config["extra_special_tokens"] = ["<|needle|>"]
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    fast = _assert_same_as_transformers(folder, extra_texts=["a <|needle|> b", "  café\n\nskip"])
    assert len(fast.encode("<|needle|>")) == 1
    assert fast.wrap_chat("x", None).endswith("[ASSISTANT]<|im_end|>")


def test_check_runs_once_and_falls_back_on_disagreement(tmp_path, smollm2_tokenizer_dir, monkeypatch):
    calls = []

    def reference():
        calls.append(1)
        return from_hf(_hf(smollm2_tokenizer_dir), "ref")

    tok = load_checked(smollm2_tokenizer_dir, "t", tmp_path / "checks", reference)
    assert calls == [1] and tok.name == "t"             # compared once, the fast loader agreed
    (verdict,) = (tmp_path / "checks").glob("*.json")
    assert json.loads(verdict.read_text())["agrees"] is True
    tok = load_checked(smollm2_tokenizer_dir, "t", tmp_path / "checks", reference)
    assert calls == [1] and tok.name == "t"             # the verdict is reused: no transformers

    real = loader_agreement.from_tokenizer_json

    def broken(folder, name):   # a loader that drops the last token of long texts
        t = real(folder, name)
        encode = t.encode
        t.encode = lambda s: encode(s)[:-1] if len(s) > 30 else encode(s)
        return t

    monkeypatch.setattr(loader_agreement, "from_tokenizer_json", broken)
    tok = load_checked(smollm2_tokenizer_dir, "t", tmp_path / "bad", reference)
    assert tok.name == "ref"
    (verdict,) = (tmp_path / "bad").glob("*.json")
    assert json.loads(verdict.read_text())["agrees"] is False
    assert load_checked(smollm2_tokenizer_dir, "t", tmp_path / "bad", reference).name == "ref"


WRAPPER = """import json, sys
from needlework.cli import main
rc = main(sys.argv[1:])
print("MODULES=" + json.dumps(sorted(sys.modules)))
sys.exit(rc)
"""


@pytest.mark.parametrize("chat", [False, True])
def test_generate_with_a_tokenizer_imports_no_torch(tmp_path, smollm2_tokenizer_dir, chat):
    load_counting_tokenizer("smollm2-135m-instruct")    # first use of the folder: checked against transformers here
    out = tmp_path / "data.jsonl"
    args = ["generate", "--n", "10", "--tokenizer", "smollm2-135m-instruct", "--out", str(out), "-q"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", WRAPPER, *args, *(["--chat-template"] if chat else [])],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    modules = json.loads(r.stdout.split("MODULES=")[-1])
    assert "needlework.tasks.tokenization.tokenizer_json" in modules
    heavy = [m for m in modules if m.split(".")[0] in ("torch", "transformers")]
    assert heavy == []
    hf = _hf(smollm2_tokenizer_dir)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 10
    for row in rows:
        prompt = row["messages"][0]["content"]
        if chat:
            n = len(hf.apply_chat_template([{"role": "user", "content": prompt}], tokenize=True,
                                           add_generation_prompt=True)["input_ids"])
        else:
            n = len(hf(prompt)["input_ids"])
        assert row["meta"]["n_tokens"] == n


def test_hub_name_in_the_hub_cache_loads_without_transformers(tmp_path, tiny_model_dir, monkeypatch):
    """A Hugging Face name already in the hub cache resolves to its snapshot folder (no transformers needed)."""
    import huggingface_hub.constants

    snapshot = tmp_path / "hub" / "models--needlework-test--tiny" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    for f in tiny_model_dir.iterdir():
        if f.is_file() and not f.name.endswith(".safetensors"):
            shutil.copy(f, snapshot / f.name)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("NEEDLEWORK_CACHE", str(tmp_path / "nw"))
    tok = load_counting_tokenizer("needlework-test/tiny")
    (verdict,) = (tmp_path / "nw" / "tokenizer-checks").glob("*.json")
    assert json.loads(verdict.read_text())["agrees"] is True
    assert json.loads(verdict.read_text())["folder"] == str(snapshot)
    assert tok.encode("Dictionary [1] {1: 2}") == _hf(tiny_model_dir)("Dictionary [1] {1: 2}")["input_ids"]

"""Secrets (issue 32): api_key_env must look like an environment variable name and anything else is refused
without echoing it; no value that looks like a secret is written to a config or provenance file or printed."""
from __future__ import annotations

import pytest

from needlework.backends import BackendConfig, OpenAIBackendConfig
from needlework.config import REDACTED, ConfigError, looks_like_secret, to_yaml
from needlework.provenance import provenance

PASTED = ["ghp_abcdefGHIJKL0123456789abcdefGHIJ", "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv",
          "a8Xk2LmQ9rT4vB7nW1zY5cF3hJ6gD0sP", "sk-proj-PLANTED0123456789abcdef", "openai_api_key", "MY-KEY"]


@pytest.mark.parametrize("value", PASTED)
def test_api_key_env_that_is_no_variable_name_is_refused_without_echo(value):
    with pytest.raises(ConfigError) as e:
        BackendConfig(model="m", kind="openai", openai=OpenAIBackendConfig(api_key_env=value)).validate()
    assert "not the key itself" in str(e.value) and value not in str(e.value)


@pytest.mark.parametrize("value", ["OPENAI_API_KEY", "MISTRAL_KEY_2", "_X"])
def test_a_variable_name_is_accepted(value, monkeypatch):
    monkeypatch.setenv(value, "x")
    BackendConfig(model="m", kind="openai", openai=OpenAIBackendConfig(api_key_env=value)).validate()


@pytest.mark.parametrize("value", PASTED[:4])
def test_what_looks_like_a_secret_is_never_written(value):
    cfg = {"name": value, "model": "smollm2-135m-instruct", "nested": [{"note": value}],
           "hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
    text = to_yaml(cfg) + repr(provenance(cfg))
    assert value not in text and REDACTED in text
    assert "smollm2-135m-instruct" in text and "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" in text


@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "SmolLM2-135M-Instruct-Q4_1", "Mistral-7B-Instruct-v0.2",
                                  "meta-llama/Llama-3.2-1B-Instruct", "OPENAI_API_KEY", "runs/cpu-demo",
                                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"])
def test_names_and_hashes_are_not_secrets(name):
    assert not looks_like_secret(name)


def test_an_error_echoing_a_pasted_key_does_not_print_it(tmp_path, capsys):
    from needlework.cli import main
    key = PASTED[2]
    assert main(["generate", "--out", str(tmp_path / "g.jsonl"), f"seed={key}"]) == 2
    out = capsys.readouterr()
    assert key not in out.out + out.err and "seed: expected an integer" in out.err
    assert not list(tmp_path.iterdir())

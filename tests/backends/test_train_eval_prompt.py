"""Training and evaluation must show a model the same prompt: the tokens training masks (train/masking.encode,
everything before the answer) are the tokens evaluation generates after (backends/render). A model without a
chat template read "prompt\\n" + answer in training; when evaluation ended the prompt without the "\\n", the
fine-tuned model spent its first token on the separator or ended its turn at once (found on Gemma-3-270M)."""
from __future__ import annotations

import pytest

from needlework.backends.base import PLAIN_PROMPT_END, Request, plain_rendering
from needlework.backends.hf import HFBackend
from needlework.evals.runner import rendering_identity
from needlework.backends import BackendConfig
from needlework.train.masking import encode

PROMPT = "Dictionary [1] {'alpha': 'beta'}\nWhat is the value of key 'alpha'?"
ANSWER = "The value of key 'alpha' is 'beta'."


def _prompt_ids_both_ways(model_dir: str, system: str | None, chat_template: str = "auto"):
    backend = HFBackend(model_dir, chat_template=chat_template, progress=False)
    msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": PROMPT}]
    evaluated = backend.renderer.token_ids(Request(messages=msgs))
    template = {"auto": "auto", "off": "plain", "on": "chat"}[chat_template]
    trained = encode(backend.tokenizer, PROMPT, ANSWER, system, template=template)
    return evaluated, trained.input_ids[:trained.answer_start]


@pytest.mark.parametrize("system", [None, "Answer briefly."])
def test_template_less_model_sees_the_trained_prompt(tiny_model_no_template_dir, system):
    evaluated, trained = _prompt_ids_both_ways(str(tiny_model_no_template_dir), system)
    assert evaluated == trained


@pytest.mark.parametrize("system", [None, "Answer briefly."])
def test_chat_template_off_sees_the_trained_prompt(tiny_model_dir, system):
    evaluated, trained = _prompt_ids_both_ways(str(tiny_model_dir), system, chat_template="off")
    assert evaluated == trained


def test_templated_model_sees_the_trained_prompt(tiny_model_dir):
    evaluated, trained = _prompt_ids_both_ways(str(tiny_model_dir), "Answer briefly.")
    assert evaluated == trained


def test_only_plain_rendering_enters_the_keys(tiny_model_dir, tiny_model_no_template_dir):
    # results rendered without the separator must never be reused for a template-less model; a templated
    # model's keys (every finished run's) stay as they were
    assert plain_rendering(True, "auto") == {}
    assert plain_rendering(False, "auto") == plain_rendering(True, "off") == {"plain_prompt_end": PLAIN_PROMPT_END}
    hf = BackendConfig()
    assert rendering_identity(str(tiny_model_dir), hf) == {}
    assert rendering_identity(str(tiny_model_no_template_dir), hf) == {"plain_prompt_end": "\n"}
    assert rendering_identity(str(tiny_model_dir), hf.with_settings(chat_template="off")) == {"plain_prompt_end": "\n"}
    assert rendering_identity(str(tiny_model_no_template_dir), hf.with_settings(kind="openai")) == {}

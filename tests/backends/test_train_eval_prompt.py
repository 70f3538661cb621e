"""Training and evaluation must show a model the same prompt: the tokens training masks (train/masking.encode,
everything before the answer) are the tokens evaluation generates after (backends/render). Evaluation's format
is the fixed one (base and fine-tuned models are compared on it); training follows it. A model without a chat
template once trained on "prompt\\nanswer" while evaluation sent "prompt": the tuned Gemma-3-270M ended its
turn at once, and ending evaluation's prompts with the newline instead cost the base model its answers."""
from __future__ import annotations

import pytest

from needlework.backends.base import PLAIN_ANSWER_SEPARATOR, Request
from needlework.backends.hf import HFBackend
from needlework.train.masking import encode, plain_training_identity

PROMPT = "Dictionary [1] {'alpha': 'beta'}\nWhat is the value of key 'alpha'? Answer:"
ANSWER = "The value of key 'alpha' is 'beta'."


def _both_ways(model_dir: str, system: str | None, chat_template: str = "auto"):
    backend = HFBackend(model_dir, chat_template=chat_template, progress=False)
    msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": PROMPT}]
    evaluated = backend.renderer.token_ids(Request(messages=msgs))
    template = {"auto": "auto", "off": "plain", "on": "chat"}[chat_template]
    trained = encode(backend.tokenizer, PROMPT, ANSWER, system, template=template)
    return backend, evaluated, trained


@pytest.mark.parametrize("system", [None, "Answer briefly."])
def test_template_less_model_sees_the_trained_prompt(tiny_model_no_template_dir, system):
    backend, evaluated, trained = _both_ways(str(tiny_model_no_template_dir), system)
    assert evaluated == trained.input_ids[:trained.answer_start]
    # the answer it learns is what a base model writes on the prompt's line: " The value ..."
    answer = backend.tokenizer.decode(trained.input_ids[trained.answer_start:trained.answer_end])
    assert answer == PLAIN_ANSWER_SEPARATOR + ANSWER


@pytest.mark.parametrize("system", [None, "Answer briefly."])
def test_chat_template_off_sees_the_trained_prompt(tiny_model_dir, system):
    _, evaluated, trained = _both_ways(str(tiny_model_dir), system, chat_template="off")
    assert evaluated == trained.input_ids[:trained.answer_start]


def test_templated_model_sees_the_trained_prompt(tiny_model_dir):
    _, evaluated, trained = _both_ways(str(tiny_model_dir), "Answer briefly.")
    assert evaluated == trained.input_ids[:trained.answer_start]


def test_only_plain_training_enters_the_keys(tiny_model_dir, tiny_model_no_template_dir):
    # a model trained on another separator is never reused; a templated training's key (every finished SmolLM2
    # run's) stays as it was
    plain = {"plain_answer_separator": PLAIN_ANSWER_SEPARATOR}
    assert plain_training_identity(str(tiny_model_dir)) == {}
    assert plain_training_identity(str(tiny_model_dir), "chat") == {}
    assert plain_training_identity(str(tiny_model_dir), "plain") == plain
    assert plain_training_identity(str(tiny_model_no_template_dir)) == plain

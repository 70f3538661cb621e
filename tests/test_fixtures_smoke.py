from transformers import AutoTokenizer


def test_tiny_models_load(tiny_model_dir, tiny_model_no_template_dir):
    from transformers import AutoModelForCausalLM
    assert AutoTokenizer.from_pretrained(tiny_model_dir).chat_template
    assert not AutoTokenizer.from_pretrained(tiny_model_no_template_dir).chat_template
    m = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert sum(p.numel() for p in m.parameters()) < 5_000_000

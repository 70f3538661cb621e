"""The paper presets carry the paper's settings (issue 10) and the plan lists each deliberate difference."""
from needlework.pipeline import load_preset, plan_text


def test_gpt35_preset_is_the_papers_arm():
    g = load_preset("gpt-3.5")
    assert g.train.openai.model == "gpt-3.5-turbo-1106"          # footnote 1
    assert g.train.openai.n_epochs == 2                           # A.1 (§3.1's 3 is named in paper_differences)
    assert g.eval.mdqa.positions == [1, 2, 5, 10, 15, 20] and g.eval.mdqa.k == 20 and g.eval.mdqa.n == 200
    assert "general" in g.eval.benchmarks and g.backend.kind == "openai"     # Table 1 rows via the service
    assert g.eval.general.tasks == ["mmlu_generative", "gsm8k"] and g.eval.general.num_fewshot == {"gsm8k": 5}
    assert g.eval.general.limits == {"mmlu_generative": 0.2}                     # footnote 3: 20% of MMLU
    assert any("§3.1" in d for d in g.paper_differences)


def test_mistral_preset_uses_the_authors_position_bias():
    m = load_preset("mistral-7b")
    assert m.data.params["position_bias"] == "exact"
    assert m.data_for("kv-no-template", 0).params["position_bias"] == "exact"
    assert m.paper_differences


def test_plan_lists_paper_differences(mini):
    text = plan_text(mini(paper_differences=["tokenizer: Mistral's, not Llama-2's (the model trained)"]),
                     log=lambda _: None)
    assert "differences from the paper (deliberate):\n  - tokenizer: Mistral's, not Llama-2's" in text
    assert "differences from the paper" not in plan_text(mini(), log=lambda _: None)


def test_plan_names_each_skipped_baseline_and_why(mini):
    cfg = mini(arms={"in2": {"task": "released_qa", "params": {"format": "in2", "path": None}}})
    assert cfg.arm_names() == [cfg.arm]
    text = plan_text(cfg, log=lambda _: None)
    assert "skipped arm in2: no in2 file given; needlework ships none" in text


def test_the_gpu_presets_plan_shows_memory_per_gpu_and_the_cpu_one_does_not(mini):
    text = plan_text(load_preset("mistral-7b-v0.2-24k"), log=lambda _: None)
    assert "GPU memory per GPU (estimate, GiB; gradient checkpointing on):" in text
    assert "8 GPUs, FSDP" in text and "24,576" in text
    assert "GPU memory" not in plan_text(mini(), log=lambda _: None)     # a tiny model on a CPU machine

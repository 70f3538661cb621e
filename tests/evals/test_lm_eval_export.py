"""`needlework export lm-eval`: the exported folder holds exactly `needlework eval`'s items, scores them with
needlework's own rules without needlework installed, refuses prompts lm-eval would truncate, and lm-eval's hf
model run on it gives every item the output and scores `needlework eval` gives it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from needlework.config import ConfigError
from needlework.evals.lm_eval_export.export import build_tasks, export_lm_eval
from needlework.evals.registry import get_benchmark
from needlework.io import read_jsonl

sys.path.insert(0, str(Path(__file__).parent))
from lm_eval_parity import eval_config, parity  # noqa: E402

SMALL = {"kv_retrieval": {"n": 2, "num_dicts": [3, 5], "depths": [0.0, 1.0], "max_new_tokens": 16},
         "mdqa": {"n": 2, "k": 3, "positions": [1, 3], "max_new_tokens": 16}}
FLENQA = {"n_base": 1, "lengths": [250], "dispersions": ["first"], "paddings": ["same"], "max_new_tokens": 24}


@pytest.fixture(scope="module")
def varied_model_dir(tmp_path_factory, tiny_model_dir) -> Path:
    """tiny_model_dir's architecture with larger random weights: its greedy text varies from prompt to prompt
    (the default initialisation answers every prompt with newlines), so equal outputs mean something."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-varied")
    cfg = LlamaConfig.from_pretrained(tiny_model_dir)
    cfg.initializer_range = 0.3
    torch.manual_seed(1)
    LlamaForCausalLM(cfg).save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_model_dir):
    tmp = tmp_path_factory.mktemp("export")
    cfg = eval_config(str(tiny_model_dir), tmp / "run", benchmarks=["kv-retrieval", "mdqa", "flenqa", "flenqa-cot"],
                      flenqa=FLENQA, **SMALL)
    return cfg, export_lm_eval(cfg, tmp / "tasks")


def test_the_folder_holds_needlework_evals_items_one_task_per_cell(exported):
    cfg, done = exported
    folder = done["folder"]
    assert done["groups"] == {
        "needlework_kv_retrieval": ["needlework_kv_retrieval_len3_depth0p0", "needlework_kv_retrieval_len3_depth1p0",
                                    "needlework_kv_retrieval_len5_depth0p0", "needlework_kv_retrieval_len5_depth1p0"],
        "needlework_mdqa": ["needlework_mdqa_pos1", "needlework_mdqa_pos3"],
        "needlework_flenqa": ["needlework_flenqa_direct", "needlework_flenqa_cot"]}
    rows = {(r["benchmark"], r["id"]): r for task in sum(done["groups"].values(), []) for r in read_jsonl(folder / "data" / f"{task}.jsonl")}
    for name in cfg.benchmarks:   # the very items `needlework eval` builds, prompt for prompt
        bench = get_benchmark(name)
        for item in bench.build(bench.bind(getattr(cfg, bench.section), cfg.model), cfg.seed):
            row = rows.pop((bench.name, item.id))
            assert row["prompt"] == item.request.messages[0]["content"]
            assert json.loads(row["gold_json"]) == item.gold and row["bucket"] == item.bucket
    assert not rows
    mdqa = (folder / "needlework_mdqa_pos1.yaml").read_text()
    assert "until:\n  - \"\\n\"\n  max_gen_toks: 16\n  do_sample: false" in mdqa
    assert "--apply_chat_template" in mdqa and "process_results: !function utils.process_results" in mdqa
    group = (folder / "needlework_mdqa.yaml").read_text()
    assert "task:\n- needlework_mdqa_pos1\n- needlework_mdqa_pos3\n" in group


def test_plain_prompts_are_exported_to_run_without_the_chat_template(tmp_path, tiny_model_dir):
    cfg = eval_config(str(tiny_model_dir), tmp_path / "run", benchmarks=["mdqa"],
                      mdqa={**SMALL["mdqa"], "chat": False})
    done = export_lm_eval(cfg, tmp_path / "tasks")
    assert done["chat"] is False
    assert "run without --apply_chat_template" in (done["folder"] / "needlework_mdqa_pos1.yaml").read_text()


def _cases(folder: Path, groups: dict) -> list[dict]:
    """Per exported item: its gold answer written out, a wrong answer, and the template's own sentence."""
    cases = []
    for task in sum(groups.values(), []):
        for row in read_jsonl(folder / "data" / f"{task}.jsonl"):
            gold = json.loads(row["gold_json"])
            texts = [row["target"], f"I think it is {row['target']}.\nmore", "no idea", "not true"]
            if row["benchmark"] == "kv-retrieval":
                texts.append(f"The value of key {gold['gold_key']} is {gold['gold_value']} and it is in "
                             f"Dictionary [{gold['gold_dict']}].")
            cases += [{"benchmark": row["benchmark"], "gold": gold, "text": t, "id": row["id"]} for t in texts]
    return cases


def test_the_folder_scores_as_needlework_without_needlework_installed(exported, tmp_path):
    cfg, done = exported
    cases = _cases(done["folder"], done["groups"])
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    # -S: no site-packages, so neither an installed needlework nor this checkout can be imported
    script = ("import json, sys; sys.path.insert(0, sys.argv[1]); import utils\n"
              "assert 'needlework' not in sys.modules\n"
              "try:\n    import needlework\nexcept ImportError:\n    pass\nelse:\n    raise SystemExit('needlework importable')\n"
              "cases = json.load(open(sys.argv[2]))\n"
              "print(json.dumps([utils.score(c['benchmark'], c['gold'], c['text']) for c in cases]))")
    proc = subprocess.run([sys.executable, "-S", "-c", script, str(done["folder"]), str(tmp_path / "cases.json")],
                          capture_output=True, text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    theirs = json.loads(proc.stdout)
    items = {(t.benchmark, it.id): it for t in build_tasks(cfg) for it in t.items}
    ours = [get_benchmark(c["benchmark"]).score(items[c["benchmark"], c["id"]], c["text"])[1] for c in cases]
    assert theirs == ours
    assert any(s.get("value_acc") == 1.0 for s in ours) and any(s.get("best_subspan_em") == 1.0 for s in ours)
    assert any(s.get("accuracy") == 1.0 for s in ours) and any(s.get("accuracy") == 0.0 for s in ours)


def test_a_prompt_lm_eval_would_truncate_is_refused(tmp_path, tiny_model_dir):
    cfg = eval_config(str(tiny_model_dir), tmp_path / "run", benchmarks=["kv-retrieval"],
                      kv_retrieval=SMALL["kv_retrieval"])
    with pytest.raises(ConfigError, match=r"exceed the model's window of 200 tokens.*left-truncate"):
        export_lm_eval(cfg, tmp_path / "tasks", max_length=200)
    assert not (tmp_path / "tasks").exists()


@pytest.mark.parametrize("sections, message", [
    ({"benchmarks": ["general"]}, "general is not exported"),
    ({"benchmarks": ["kv-retrieval"], "kv_retrieval": {"task": "variable_tracking", "n": 1}},
     "kv_retrieval.task=variable_tracking"),
])
def test_what_the_folder_cannot_score_is_refused(tmp_path, tiny_model_dir, sections, message):
    with pytest.raises(ConfigError, match=message):
        export_lm_eval(eval_config(str(tiny_model_dir), tmp_path / "run", **sections), tmp_path / "tasks")


def test_a_folder_that_is_no_export_is_never_replaced(tmp_path, tiny_model_dir):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "notes.txt").write_text("mine")
    cfg = eval_config(str(tiny_model_dir), tmp_path / "run", benchmarks=["mdqa"], mdqa=SMALL["mdqa"])
    with pytest.raises(ConfigError, match="holds no earlier export"):
        export_lm_eval(cfg, tmp_path / "tasks")
    assert (tmp_path / "tasks" / "notes.txt").read_text() == "mine"


def test_lm_eval_hf_scores_every_item_as_needlework_eval(tmp_path, varied_model_dir):
    result = parity(str(varied_model_dir), tmp_path, benchmarks=["kv-retrieval", "mdqa"], **SMALL)
    assert result["n"] == 12 and len(result["lm_eval"]) == 12
    assert result["differences"] == []
    outputs = {r["output"] for r in result["needlework"].values()}
    assert len(outputs) > 6   # varied text, not one degenerate answer for every prompt


@pytest.mark.integration
def test_lm_eval_hf_scores_every_item_as_needlework_eval_on_smollm2(tmp_path):
    from needlework.models import resolve_model_path
    model = resolve_model_path("smollm2-135m-instruct")
    result = parity(model, tmp_path, benchmarks=["kv-retrieval", "mdqa"],
                    kv_retrieval={"n": 2, "num_dicts": [5], "depths": [0.0, 1.0], "max_new_tokens": 40},
                    mdqa={"n": 2, "k": 5, "positions": [1, 5]})
    print(f"\nSmolLM2, lm-eval hf vs needlework eval: {result['n']} items compared, "
          f"{len(result['differences'])} differences")
    assert result["n"] == 8
    assert result["differences"] == []


def test_the_command_exports_an_eval_config(tmp_path, tiny_model_dir):
    from needlework.cli import main
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(json.dumps({"model": str(tiny_model_dir), "benchmarks": ["mdqa"], "mdqa": SMALL["mdqa"]}))
    assert main(["export", "lm-eval", "--config", str(cfg), "--out", str(tmp_path / "tasks"), "mdqa.n=1"]) == 0
    assert len(list(read_jsonl(tmp_path / "tasks" / "data" / "needlework_mdqa_pos3.jsonl"))) == 1
    assert main(["export", "lm-eval", "--config", str(cfg), "--out", str(tmp_path / "tasks"),
                 "--max-length", "50"]) == 2


def test_the_command_exports_a_presets_eval_section_at_its_base_model(tmp_path, tiny_model_dir):
    from needlework.cli import main
    from needlework.pipeline import load_preset
    assert main(["export", "lm-eval", "--config", "cpu-demo", "--benchmarks", "mdqa", "--limit", "1",
                 "--model", str(tiny_model_dir), "--out", str(tmp_path / "tasks")]) == 0
    positions = load_preset("cpu-demo").eval.mdqa.positions
    assert sorted(p.name for p in (tmp_path / "tasks" / "data").iterdir()) == sorted(
        f"needlework_mdqa_pos{p}.jsonl" for p in positions)
    assert f"pretrained={tiny_model_dir}," in (tmp_path / "tasks" / "needlework_mdqa.yaml").read_text()

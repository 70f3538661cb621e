"""The MDQA probe and the stopping rules: the probe's questions come only from the NQ dev split (never the
MDQA benchmark's eval questions, never mdqa_train's train questions), a probe runs inside training and is
logged beside the synthetic checks, and `plateau` waits for the signal to stop rising where `target` stops at
its first saturation."""
from __future__ import annotations

import pytest
from train_helpers import tiny_kwargs

from needlework.config import ConfigError, from_dict
from needlework.evals.mdqa import MDQAConfig, build
from needlework.io import read_jsonl, write_jsonl
from needlework.real_data import load_nq, nq_split, nq_split_of
from needlework.train import TrainConfig, run_training
from needlework.train.config import EarlyStopConfig, MdqaProbeConfig
from needlework.train.early_stop import should_stop
from needlework.train.mdqa_probe import probe_items


def test_the_three_nq_splits_partition_the_questions():
    splits = {s: {r["question"] for r in nq_split(s)} for s in ("train", "dev", "eval")}
    assert sum(len(q) for q in splits.values()) == len({r["question"] for r in load_nq()})
    assert not (splits["train"] & splits["dev"]) and not (splits["dev"] & splits["eval"])
    assert not (splits["train"] & splits["eval"])
    assert len(splits["dev"]) > 250      # enough for a probe and a dev evaluation


def test_probe_questions_and_passages_never_touch_the_mdqa_evaluation():
    s = MdqaProbeConfig(enabled=True, n=40, k=10)
    items = probe_items(s)
    assert len(items) == 40 and {it["position"] for it in items} == {1, 5, 10}
    assert all(nq_split_of(it["question"]) == "dev" for it in items)
    eval_items = build(MDQAConfig(k=10, n=200, positions=[1]), seed=0)
    eval_questions = {it.gold["question"] for it in eval_items}
    assert not eval_questions & {it["question"] for it in items}
    # every passage in a probe prompt is the gold passage of a dev question (none of eval's or train's)
    dev_texts = {c["text"] for r in nq_split("dev") for c in r["ctxs"] if c.get("isgold")}
    other = {c["text"] for r in nq_split("eval") + nq_split("train") for c in r["ctxs"] if c.get("isgold")}
    for it in items:
        prompt = it["request"].messages[0]["content"]
        assert not any(t in prompt for t in other - dev_texts)
    # the same dev questions are what `mdqa.split=dev` asks: a recipe is chosen on dev, judged on eval
    dev_eval = build(MDQAConfig(k=10, n=40, positions=[1], split="dev"), seed=0)
    assert {it.gold["question"] for it in dev_eval} <= {r["question"] for r in nq_split("dev")}


@pytest.mark.parametrize("n, k, positions, seed", [(6, 5, [1, 3, 5], 0), (8, 10, [1, 5, 10, 2], 3), (3, 3, [2], 1)])
def test_the_probe_asks_exactly_what_the_mdqa_benchmark_asks(n, k, positions, seed):
    """One builder (tasks.baselines.mdqa_prompts) for both: the probe's prompts are the benchmark's with `split: dev`,
    `layout: rotate` and n / len(positions) prompts per position -- same ids, same order, same text, same request."""
    probe = probe_items(MdqaProbeConfig(enabled=True, n=n, k=k, positions=positions, seed=seed,
                                              max_new_tokens=24))
    bench = build(MDQAConfig(k=k, positions=positions, n=n // len(positions) + 1, layout="rotate", split="dev",
                               max_new_tokens=24), seed=seed)[:n]   # the benchmark's first n: the same n questions
    assert [it["id"] for it in probe] == [it.id for it in bench]
    assert [it["position"] for it in probe] == [it.axes["position"] for it in bench]
    assert [it["request"] for it in probe] == [it.request for it in bench]
    assert [it["request"].messages[0]["content"] for it in probe] == [it.request.messages[0]["content"] for it in bench]
    assert [(it["question"], it["answers"]) for it in probe] == [(b.gold["question"], b.gold["answers"]) for b in bench]


def _log(values, key="heldout_value_exact"):
    return [{"step": 4 * (i + 1), key: v} for i, v in enumerate(values)]


def test_target_stops_at_first_saturation_and_plateau_waits_for_the_rise_to_end():
    synthetic = EarlyStopConfig(enabled=True, metric="value", rule="target", target=1.0, patience=2)
    log = _log([0.2, 1.0, 1.0, 1.0, 1.0])
    assert [should_stop(log[:i], synthetic) for i in range(1, 6)] == [False, False, True, True, True]
    plateau = EarlyStopConfig(enabled=True, metric="mdqa-probe", rule="plateau", patience=2, min_delta=0.0)
    probe = _log([0.10, 0.20, 0.30, 0.30, 0.35, 0.33, 0.34], key="transfer_em")
    # still rising at the 4th check (0.30 ties but 0.35 follows); stops only after two checks below 0.35
    assert [should_stop(probe[:i], plateau) for i in range(1, 8)] == [False] * 6 + [True]
    assert should_stop(_log([0.1, 0.3, 0.31, 0.32], "transfer_em"),
                       EarlyStopConfig(metric="mdqa-probe", rule="plateau", patience=2, min_delta=0.05))
    mix = EarlyStopConfig(metric="mix", rule="target", target=0.6, patience=1, mix_weight=0.5)
    assert not should_stop([{"step": 4, "heldout_value_exact": 1.0}], mix)            # no transfer yet
    assert should_stop([{"step": 8, "heldout_value_exact": 1.0, "transfer_em": 0.25}], mix)


def test_probe_settings_are_checked_up_front(tmp_path):
    with pytest.raises(ConfigError, match="mdqa_probe.every=6 must be a multiple of early_stop.every=4"):
        from_dict(TrainConfig, {"data": ["x"], "early_stop": {"every": 4},
                                "mdqa_probe": {"enabled": True, "every": 6}}).validate()
    with pytest.raises(ConfigError, match="needs the MDQA probe"):
        from_dict(TrainConfig, {"data": ["x"], "early_stop": {"enabled": True, "metric": "mdqa-probe"}}).validate()
    with pytest.raises(ConfigError, match="positions must lie in 1..k=5"):
        from_dict(TrainConfig, {"data": ["x"], "mdqa_probe": {"enabled": True, "k": 5,
                                                                   "positions": [1, 10]}}).validate()


def test_training_logs_the_probe_beside_the_synthetic_checks(tiny_model_dir, kv_file, tmp_path):
    rows = list(read_jsonl(kv_file))
    data = tmp_path / "kv.jsonl"
    write_jsonl(data, rows + rows[:4])
    kw = tiny_kwargs(tiny_model_dir, [data], tmp_path / "run", max_steps=4, global_batch=4, batch_size=4,
                     save_steps=1000)
    kw.update(early_stop={"enabled": False, "held_out": 4, "every": 1},
              mdqa_probe={"enabled": True, "n": 3, "k": 3, "positions": [1, 3], "every": 2,
                              "max_new_tokens": 4})
    out = run_training(from_dict(TrainConfig, kw))
    checks = [r for r in read_jsonl(out / "train_log.jsonl") if "heldout_exact" in r]
    assert [c["step"] for c in checks] == [0, 1, 2, 3, 4]                  # synthetic at every check, and before
    probed = [c["step"] for c in checks if "transfer_em" in c]
    assert probed == [0, 2, 4] and all(c["transfer_n"] == 3 for c in checks if "transfer_em" in c)
    assert all(0.0 <= c["transfer_em"] <= 1.0 for c in checks if "transfer_em" in c)
    steps = [r["step"] for r in read_jsonl(out / "train_log.jsonl") if "loss" in r]
    assert steps[-1] == 4                                                  # probing never stops training


def test_probing_never_changes_the_weights(tiny_model_dir, kv_file, tmp_path):
    """The probe and the held-out checks (step 0 included) only read the model: training with them ends with
    bit-identical weights to training without (same data; the held-out rows are left out in both)."""
    from safetensors.torch import load_file
    rows = list(read_jsonl(kv_file))
    data = tmp_path / "kv.jsonl"
    write_jsonl(data, rows + rows[:4])
    outs = []
    for name, probe in (("plain", False), ("probed", True)):
        kw = tiny_kwargs(tiny_model_dir, [data], tmp_path / name, max_steps=4, global_batch=4, batch_size=4,
                         save_steps=1000)
        kw.update(early_stop={"enabled": False, "held_out": 4, "every": 2},
                  mdqa_probe={"enabled": probe, "n": 2, "k": 3, "positions": [1, 3], "every": 2,
                                  "max_new_tokens": 4})
        if not probe:   # the same rows held out, without any check running
            write_jsonl(tmp_path / "kv_plain.jsonl", rows)
            kw["data"] = [str(tmp_path / "kv_plain.jsonl")]
            kw.pop("early_stop")
        outs.append(load_file(str(run_training(from_dict(TrainConfig, kw)) / "model.safetensors")))
    assert outs[0].keys() == outs[1].keys() and all(outs[0][k].equal(outs[1][k]) for k in outs[0])

"""The plan's time estimates: what a stage costs beyond its tokens, and measurements reused across re-plans."""
from __future__ import annotations

import pytest

from needlework.pipeline.measure import Throughput

TP = Throughput("measured", prefill_tokens_per_s=1000.0, decode_step_s=0.1, decode_batch=16,
                train_tokens_per_s=400.0)
CTX = object()   # the run's context: passed through to the measurement, never looked into here


def test_training_counts_its_held_out_checks_and_probes(mini):
    """The cpu-demo's plan was 2 minutes short: the held-out rows teacher-forced every `early_stop.every` steps
    (for the probe curve, even with early stopping off) were not counted."""
    from needlework.pipeline.estimate import REALIZED, TRAIN_FIXED_S, train_estimate
    data = {"per_sample": 400, "tokens": 400 * 64}
    plain = train_estimate(mini(**{"train.epochs": 2.0, "train.global_batch": 8, "train.batch_size": 8}),
                           data, 64, TP)
    assert plain["tokens"] == 64 * 2 * 400
    assert plain["seconds"] == pytest.approx(plain["tokens"] / (400.0 * REALIZED) + TRAIN_FIXED_S)
    curve = mini(**{"train.epochs": 2.0, "train.global_batch": 8, "train.batch_size": 8,
                    "train.early_stop": {"enabled": False, "held_out": 16, "every": 4},
                    "train.mdqa_probe": {"enabled": True, "n": 15, "k": 5, "positions": [1, 3, 5],
                                             "every": 4}})
    with_curve = train_estimate(curve, data, 64, TP)
    steps = (64 - 16) * 2 // 8                     # 12 optimizer steps on the rows left after the held-out ones
    checks = steps // 4 + 1                        # step 0 and every 4th
    held_out_s = checks * 16 * 400 / (1000.0 * REALIZED)
    probe_s = checks * 15 * (135 * 5 + 60) / (1000.0 * REALIZED)
    assert with_curve["tokens"] == 48 * 2 * 400
    assert with_curve["seconds"] == pytest.approx(with_curve["tokens"] / (400.0 * REALIZED) + TRAIN_FIXED_S + held_out_s + probe_s)


def test_training_pays_for_padding_to_the_longest_row_of_each_micro_batch(mini):
    """A mixture of ~370- and ~1,000-token samples in batches of 8 pads nearly every row to ~1,000 tokens: the
    study's plan said 8 s a step where 20 s were taken. The padded length is E[max of batch_size draws]."""
    from needlework.pipeline.estimate import REALIZED, TRAIN_FIXED_S, expected_padded_row, train_estimate
    assert expected_padded_row([100, 100, 100], 8) == pytest.approx(100)
    assert expected_padded_row([100, 1000], 1) == pytest.approx(550)            # no padding: the mean
    assert expected_padded_row([100, 1000], 2) == pytest.approx(100 / 4 + 1000 * 3 / 4)
    assert expected_padded_row([100, 1000], 8) == pytest.approx(100 / 256 + 1000 * 255 / 256)
    data = {"per_sample": 550, "tokens": 550 * 64, "lengths": [100, 1000]}
    est = train_estimate(mini(**{"train.max_steps": 10, "train.global_batch": 8, "train.batch_size": 8}),
                         data, 64, TP)
    assert est["tokens"] == 10 * 8 * 550                       # the samples' own tokens, as the data holds them
    padded = 100 / 256 + 1000 * 255 / 256                      # the micro-batch of 8: train.batch_size's padding
    assert est["seconds"] == pytest.approx(10 * 8 * padded / (400.0 * REALIZED) + TRAIN_FIXED_S)


def test_evaluation_time_is_the_realised_share_of_the_measured_rates():
    from needlework.pipeline.estimate import EVAL_FIXED_S, GENERATE_REALIZED, eval_seconds, eval_stage_seconds
    assert 0.5 < GENERATE_REALIZED <= 1
    assert eval_seconds({"tokens": 10_000, "new_tokens": 320}, TP) == pytest.approx((10.0 + 320 / 16 * 0.1)
                                                                                  / GENERATE_REALIZED)
    # a stage: generated benchmarks at the engine's share, a self-driven one (lm-eval) at the share and with the
    # start its own estimate states, plus the backend's start
    ev = {"benchmarks": {"mdqa": {"items": 10, "tokens": 10_000, "new_tokens": 320},
                         "general": {"items": 50, "tokens": 5_000, "new_tokens": 0, "realized": 0.5, "fixed_s": 15}},
          "self_driven": ["general"]}
    assert eval_stage_seconds(ev, TP) == pytest.approx((10.0 + 2.0) / GENERATE_REALIZED + 5.0 / 0.5
                                                       + EVAL_FIXED_S + 15)


def test_a_self_driven_benchmarks_costs_come_from_its_own_record(mini):
    """The pipeline names no benchmark: general's realised share and start are in its module."""
    from needlework.evals.general import benchmark as general
    from needlework.pipeline.estimate import EVAL_FIXED_S, eval_estimate, eval_fixed_seconds
    est = general.estimate(general.GeneralConfig(tasks=["arc_easy"], limit=10))
    assert (est["realized"], est["fixed_s"]) == (general.REALIZED, general.START_S)
    ev = eval_estimate(mini(**{"eval.benchmarks": ["kv-retrieval"]}))
    assert eval_fixed_seconds(ev) == EVAL_FIXED_S


def test_a_re_plan_with_other_sizes_reuses_the_measured_throughput(mini, monkeypatch):
    """A plan at another size: the mean prompt changes by a few tokens and must not make a second 20-second
    measurement."""
    from needlework.pipeline import estimate, measure
    shapes = []
    monkeypatch.setattr(measure, "measure_cached", lambda model, context, log=print, **shape: shapes.append(shape) or TP)
    cfg = mini(**{"estimate.measure": True})
    for mean_prompt in (861, 890, 768 + 1):
        estimate.throughput(cfg, {"per_sample": 371}, {"mean_prompt": mean_prompt}, context=CTX)
    assert [s["eval_len"] for s in shapes] == [512, 512, 512]    # capped at train.max_length (512 here)
    cfg = mini(**{"estimate.measure": True, "train.max_length": 4096})
    shapes.clear()
    for mean_prompt in (770, 890, 1024, 1025):
        estimate.throughput(cfg, {"per_sample": 371}, {"mean_prompt": mean_prompt}, context=CTX)
    assert [s["eval_len"] for s in shapes] == [1024, 1024, 1024, 1280]
    assert {s["train_len"] for s in shapes} == {384}


def test_the_measured_prompt_length_weighs_each_benchmark_the_same(mini):
    """Another size of one benchmark must not move the length prefill is measured at (a second measurement, 10-20
    s): the mean over benchmarks of each one's mean prompt, not the mean over items, which follows the counts."""
    from needlework.pipeline.estimate import eval_estimate
    for n in (1, 6):
        ev = eval_estimate(mini(**{"eval.mdqa.n": n, "eval.kv_retrieval.n": 3}))
        means = [(b["tokens"] - b.get("companion_tokens", 0)) / b["items"] for b in ev["benchmarks"].values()]
        assert len(means) == 2 and ev["mean_generated_prompt"] == round(sum(means) / 2)


def test_the_companion_measures_cost_is_counted_and_shown_apart(mini):
    """MDQA's context gain and preference prefill each prompt again and one prompt without the gold passage per
    question: the plan counts them in the evaluation's tokens (so a budget sees them) and says how many."""
    from needlework.pipeline.estimate import eval_estimate
    on = eval_estimate(mini(**{"eval.mdqa.n": 4, "eval.kv_retrieval.n": 3}))["benchmarks"]
    off = eval_estimate(mini(**{"eval.mdqa.n": 4, "eval.kv_retrieval.n": 3, "eval.companion": False}))["benchmarks"]
    assert "companion_tokens" not in on["kv-retrieval"] and "companion_tokens" not in off["mdqa"]
    assert on["mdqa"]["tokens"] == off["mdqa"]["tokens"] + on["mdqa"]["companion_tokens"]
    # the prompt again plus a shorter one without gold: more than one prompt's worth, less than two
    assert off["mdqa"]["tokens"] < on["mdqa"]["companion_tokens"] < 2 * off["mdqa"]["tokens"]


def test_the_token_probe_takes_every_bucket_of_a_grid():
    """Every 9th of 72 prompts in a (question x length) grid of 3 lengths is always the first length: the plan
    counted FLenQA's 250-token prompts only."""
    from types import SimpleNamespace

    from needlework.pipeline.estimate import probe_items
    grid = [SimpleNamespace(bucket=f"length={n}", n=n) for q in range(24) for n in (250, 500, 1000)]
    probe = probe_items(grid, 8)
    assert len(probe) == 8 and {it.n for it in probe} == {250, 500, 1000}
    assert abs(sum(it.n for it in probe) / 8 - 583) < 100          # the grid's mean, not 250
    assert probe_items(grid[:2], 8) == grid[:2]

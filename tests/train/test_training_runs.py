"""End-to-end runs of run_training on the tiny model: learning, outputs, skip, resume == uninterrupted."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from train_helpers import make_rows, tiny_kwargs

from needlework.config import ConfigError
from needlework.io import read_jsonl
from needlework.train import TrainConfig, run_training
from needlework.train import callbacks as cb


def test_thirty_steps_drive_answer_loss_near_zero(tiny_fast_model_dir, kv_file, tmp_path):
    kwargs = tiny_kwargs(tiny_fast_model_dir, [kv_file], tmp_path / "run", params="full", lr=1e-2, max_steps=30,
                         save_steps=1000)
    out = run_training(TrainConfig(**kwargs))
    log = list(read_jsonl(out / "train_log.jsonl"))
    assert [r["step"] for r in log] == list(range(1, 31))
    assert log[0]["loss"] > 9.0
    # 8 samples (3 dictionaries, 3-4 digit keys), full batch: answer loss ~12 -> ~0.001 in 30 steps.
    assert log[-1]["loss"] < 0.05, [round(r["loss"], 3) for r in log]
    assert all(r["tokens_per_s"] > 0 and r["lr"] > 0 for r in log)
    for name in ("model.safetensors", "config.json", "tokenizer.json", "train_config.yaml", "provenance.json",
                 "loss_curve.png", "done.json"):
        assert (out / name).exists(), name
    assert not (out / "training_args.bin").exists()
    from transformers import AutoModelForCausalLM
    AutoModelForCausalLM.from_pretrained(out)
    # Same config again: skipped, not retrained.
    before = (out / "model.safetensors").stat().st_mtime_ns
    run_training(TrainConfig(**kwargs))
    assert (out / "model.safetensors").stat().st_mtime_ns == before


def test_finished_marker_is_keyed_by_the_config_identity(tiny_model_dir, kv_file, tmp_path):
    """done.json (io.write_done) carries the hash of TrainConfig.identity(): bookkeeping changes (progress,
    threads, checkpoint cadence) find the run finished; a setting that changes the weights is refused."""
    from needlework.io import read_done
    from needlework.provenance import config_hash
    kwargs = tiny_kwargs(tiny_model_dir, [kv_file], tmp_path / "run", params="attention", max_steps=2)
    out = run_training(TrainConfig(**kwargs))
    mark = read_done(out)
    assert mark["key"] == config_hash(TrainConfig(**kwargs).identity()) and mark["global_step"] == 2
    before = (out / "model.safetensors").stat().st_mtime_ns
    same = {**kwargs, "progress": not kwargs.get("progress", True), "num_threads": 1, "save_steps": 7,
            "keep_checkpoints": True}
    assert TrainConfig(**same).identity() == TrainConfig(**kwargs).identity()
    run_training(TrainConfig(**same))
    assert (out / "model.safetensors").stat().st_mtime_ns == before
    with pytest.raises(ConfigError, match="different config"):
        run_training(TrainConfig(**{**kwargs, "lr": 0.5}))
    assert read_done(out) == mark


class _Interrupt(Exception):
    pass


def test_resume_equals_uninterrupted(tiny_model_dir, kv_file, tmp_path, monkeypatch):
    # GA 2 x batch 2, 8 samples: 2 steps per epoch, so the interruption at step 3 falls mid-epoch-2;
    # a linear schedule checks the scheduler state too.
    kw = dict(params="attention", lr=1e-2, lr_scheduler="linear", global_batch=4, batch_size=2, max_steps=6,
              save_steps=3)
    full = run_training(TrainConfig(**tiny_kwargs(tiny_model_dir, [kv_file], tmp_path / "a", **kw)))

    orig = cb.ProgressCallback.on_step_end

    def crash(self, args, state, control, **k):
        orig(self, args, state, control, **k)
        if state.global_step == 4:
            raise _Interrupt()

    monkeypatch.setattr(cb.ProgressCallback, "on_step_end", crash)
    with pytest.raises(_Interrupt):
        run_training(TrainConfig(**tiny_kwargs(tiny_model_dir, [kv_file], tmp_path / "b", **kw)))
    monkeypatch.setattr(cb.ProgressCallback, "on_step_end", orig)
    with pytest.raises(ConfigError, match="--resume"):
        run_training(TrainConfig(**tiny_kwargs(tiny_model_dir, [kv_file], tmp_path / "b", **kw)))
    resumed = run_training(TrainConfig(**tiny_kwargs(tiny_model_dir, [kv_file], tmp_path / "b", resume=True, **kw)))

    a, b = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    log_a = [r["loss"] for r in read_jsonl(full / "train_log.jsonl")]
    log_b = [r["loss"] for r in read_jsonl(resumed / "train_log.jsonl")]
    assert log_a == log_b
    assert json.loads((resumed / "done.json").read_text())["global_step"] == 6
    # a finished folder resumes nothing: its checkpoints (optimizer state included) are gone, the interrupted
    # run's as well as the uninterrupted one's, and the final model stands alone
    assert not (full / "checkpoints").exists() and not (resumed / "checkpoints").exists()


def test_auto_precision_without_native_bf16_trains_fp32_and_records_why(tiny_model_dir, tmp_path, monkeypatch):
    from needlework.io import write_jsonl
    from needlework.train import TrainConfig, run_training
    from needlework import precision
    monkeypatch.setenv("NEEDLEWORK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2"})   # an AVX2-only CPU
    data = tmp_path / "kv.jsonl"
    write_jsonl(data, make_rows(4, num_dict=2))
    kw = tiny_kwargs(tiny_model_dir, [data], tmp_path / "ft", max_steps=1, global_batch=2, batch_size=2)
    kw["precision"] = "auto"
    out = run_training(TrainConfig(**kw))
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["precision"]["bf16"] is False and "no native bf16" in prov["precision"]["reason"]


def test_early_stop_ends_training_once_held_out_answers_are_exact(tiny_fast_model_dir, kv_file, tmp_path):
    # The held-out tail repeats the 8 training rows, so "learned" is reachable by a tiny model: it must stop
    # as soon as every held-out answer token is the argmax in two checks running, long before max_steps.
    rows = list(read_jsonl(kv_file))
    data = tmp_path / "kv_plus_heldout.jsonl"
    from needlework.io import write_jsonl
    write_jsonl(data, rows + rows)
    kwargs = tiny_kwargs(tiny_fast_model_dir, [data], tmp_path / "run", params="full", lr=1e-2, max_steps=200,
                         save_steps=1000, early_stop={"enabled": True, "held_out": 8, "every": 2, "patience": 2})
    from needlework.config import from_dict
    out = run_training(from_dict(TrainConfig, kwargs))
    log = list(read_jsonl(out / "train_log.jsonl"))
    checks = [r for r in log if "heldout_exact" in r]
    steps = [r["step"] for r in log if "loss" in r]
    assert checks and [c["step"] for c in checks] == list(range(0, 2 * len(checks) - 1, 2))   # step 0: before training
    assert checks[-1]["heldout_exact"] == 1.0 and checks[-2]["heldout_exact"] == 1.0
    assert checks[0]["heldout_exact"] < 1.0                      # it was not learned from the start
    assert steps[-1] == checks[-1]["step"] < 200                # stopped at the deciding check
    done = json.loads((out / "done.json").read_text())
    prov = json.loads((out / "provenance.json").read_text())
    assert done["stopped_early"] is True and prov["stopped_early_at"] == steps[-1] and prov["held_out"] == 8
    assert prov["samples"] == 8                                   # the held-out rows were never trained on


def test_heldout_exact_match_means_greedy_reproduces_the_answer(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from needlework.train.batches import LeftPadCollator
    from needlework.train.early_stop import heldout_scores
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    prompt = [5, 17, 99, 230, 41, 8]
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), max_new_tokens=5, do_sample=False)[0].tolist()
    answer = out[len(prompt):]          # the model's own greedy continuation: exact by construction
    feats = [{"input_ids": out, "labels": [-100] * len(prompt) + answer},
             {"input_ids": [3] + out, "labels": [-100] * (len(prompt) + 1) + answer}]   # unequal lengths: padding
    batch = LeftPadCollator(0)(feats)
    assert heldout_scores(model, [batch])["heldout_exact"] == 1.0
    wrong = [dict(f) for f in feats]
    wrong[1]["labels"] = wrong[1]["labels"][:-1] + [(answer[-1] + 1) % 1000]   # one token off in one sample
    wrong[1]["input_ids"] = wrong[1]["input_ids"][:-1] + [(answer[-1] + 1) % 1000]
    assert heldout_scores(model, [LeftPadCollator(0)(wrong)])["heldout_exact"] == 0.5


def test_value_positions_are_the_gold_value_tokens(tiny_model_dir):
    from transformers import AutoTokenizer

    from needlework.tasks.gold_spans import value_positions
    from needlework.train.early_stop import heldout_batches
    from needlework.train.masking import encode
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    answer = "The value of key 3613 is 3047 and it is in Dictionary [4]."
    enc = encode(tok, "Report the value of key 3613.", answer)
    pos = value_positions(tok, enc, answer, {"gold_value": 3047})
    assert tok.decode([enc.input_ids[i] for i in pos]).strip() == "3047"
    rows = [{"prompt": "Report the value of key 3613.", "answer": answer, "system": None,
             "meta": {"gold_value": 3047}}]
    batch = heldout_batches(rows, tok, "auto", 512, 4, 0)[0]
    assert batch["value_mask"].shape == batch["labels"].shape and int(batch["value_mask"].sum()) == len(pos)


def test_paper_recipe_fits_its_own_prompts(tiny_model_dir, tmp_path):
    """`--recipe paper` without presets: the paper's prompts reach 4,096 tokens before the answer, so the recipe
    leaves room for the answer and checkpoints activations (explicit settings still win)."""
    from needlework.io import write_jsonl
    paper = TrainConfig(data=["x"], recipe="paper").resolved()
    assert paper.max_length == 4608 and paper.gradient_checkpointing is True
    small = TrainConfig(data=["x"], recipe="small").resolved()
    assert small.max_length == 4096 and small.gradient_checkpointing is False
    assert TrainConfig(data=["x"], recipe="paper", max_length=6000).resolved().max_length == 6000
    import warnings

    from needlework.train.trainer import training_arguments
    with warnings.catch_warnings():   # transformers' current name, not its deprecated alias
        warnings.simplefilter("error", FutureWarning)
        args = training_arguments(paper, tmp_path / "ckpt", 1, bf16=False)
    assert args.activation_checkpointing is True and args.activation_checkpointing_kwargs == {"use_reentrant": False}
    assert training_arguments(small, tmp_path / "ckpt2", 1, bf16=False).activation_checkpointing is False
    rows = make_rows(1, num_dict=92)     # ~4,250 tokens with the chat template: over the old 4,096 limit
    data = tmp_path / "long.jsonl"
    write_jsonl(data, rows)
    kw = tiny_kwargs(tiny_model_dir, [data], tmp_path / "run", max_steps=1, global_batch=1, batch_size=1,
                     save_steps=1000)
    kw.update(recipe="paper", lr=None, lr_scheduler=None, warmup_ratio=None)
    out = run_training(TrainConfig(**kw))
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["tokens"] > 4096 and prov["config"]["gradient_checkpointing"] is True


def test_one_process_seeing_several_gpus_uses_one_not_data_parallel(tmp_path, kv_file):
    """Simulated: TrainingArguments that report 4 GPUs in one process get n_gpu 1, so the Trainer does not wrap
    the model in nn.DataParallel (which would quadruple the global batch); with several processes nothing
    changes (each process has its own device)."""
    from needlework.train.trainer import one_device_per_process, training_arguments
    cfg = TrainConfig(data=[str(kv_file)], global_batch=8, batch_size=8).resolved()
    args = training_arguments(cfg, tmp_path / "ckpt", 1, bf16=False)
    assert one_device_per_process(args, 1) is None          # CPU: nothing to do
    args._n_gpu = 4                                          # what transformers sets on a 4-GPU machine
    note = one_device_per_process(args, 1)
    assert args.n_gpu == 1 and "4 GPUs are visible to one process" in note and "--num_processes 4" in note
    args._n_gpu = 4
    assert one_device_per_process(args, 2) is None and args.n_gpu == 4


def test_final_weights_in_the_training_precision_and_sharded_lora_merge_refused(tiny_model_dir, kv_file, tmp_path):
    from needlework.train.run import refuse_sharded_merge, save_dtype
    cfg = TrainConfig(data=["x"])
    assert save_dtype(cfg, True, "cuda:0") == "bf16" and save_dtype(cfg, True, "cpu") == "fp32"
    assert save_dtype(cfg, False, "cuda:0") == "fp32"
    assert save_dtype(TrainConfig(data=["x"], save_dtype="bf16"), False, "cpu") == "bf16"
    out = run_training(TrainConfig(**tiny_kwargs(tiny_model_dir, [kv_file], tmp_path / "run", max_steps=1,
                                                 save_steps=1000, save_dtype="bf16")))
    weights = load_file(out / "model.safetensors")
    assert {v.dtype for v in weights.values()} == {torch.bfloat16}
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    from transformers import AutoModelForCausalLM
    assert AutoModelForCausalLM.from_pretrained(out).dtype == torch.bfloat16
    with pytest.raises(ConfigError, match="save=merged with params=lora is not supported under FSDP"):
        refuse_sharded_merge(TrainConfig(data=["x"], params="lora", save="merged"), sharded=True)
    refuse_sharded_merge(TrainConfig(data=["x"], params="lora", save="adapter"), sharded=True)
    refuse_sharded_merge(TrainConfig(data=["x"], params="lora", save="merged"), sharded=False)


def test_a_batch_that_does_not_divide_the_global_batch_is_refused_not_rewritten():
    with pytest.raises(ConfigError, match="global_batch=6 is not a multiple of batch_size=4"):
        TrainConfig(data=["x"], global_batch=6, batch_size=4).validate()
    # the recipe's own per-device batch (4) is a default, not a setting: the largest divisor of 6 below it
    assert TrainConfig(data=["x"], global_batch=6).resolved().batch_size == 3


def test_a_checkpoint_cut_short_is_moved_aside_and_resume_is_bit_identical(tiny_model_dir, kv_file, tmp_path, capsys):
    """Ctrl-C or a full disk while checkpoint-3 is written: --resume takes checkpoint-2 (the newest complete one),
    says so, and ends with the uninterrupted run's weights."""
    import shutil
    kw = dict(max_steps=4, global_batch=2, batch_size=2, save_steps=1, save_total_limit=3, keep_checkpoints=True)
    ref = run_training(TrainConfig(**tiny_kwargs(tiny_model_dir, [kv_file], tmp_path / "ref", **kw)))
    cut = tmp_path / "cut"
    shutil.copytree(ref, cut)
    for name in ("done.json", "model.safetensors", "provenance.json"):
        (cut / name).unlink()
    shutil.rmtree(cut / "checkpoints" / "checkpoint-4")
    (cut / "checkpoints" / "checkpoint-3" / "trainer_state.json").write_text('{"global_step": 3, "log_hi')
    capsys.readouterr()
    out = run_training(TrainConfig(**tiny_kwargs(tiny_model_dir, [kv_file], cut, resume=True, **kw)))
    text = capsys.readouterr().out
    assert "checkpoint-3 was not saved completely (interrupted); moved aside" in text
    assert "resuming from" in text and "checkpoint-2" in text
    assert (cut / "checkpoints" / "checkpoint-3.incomplete").is_dir()
    a, b = load_file(ref / "model.safetensors"), load_file(out / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)

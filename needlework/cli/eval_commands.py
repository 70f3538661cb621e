"""Commands of the evals stage: `eval` (run benchmarks, resumable), `compare` (two runs, per bucket), and the
lm-eval bridge: `export lm-eval` (benchmarks as an lm-eval task folder) and `import lm-eval` (lm-eval's per-sample
output of those tasks as an eval folder that `compare` and the report read)."""
from __future__ import annotations

from .options import add_config_args, comma_list, configured_run, flag_overrides


def cmd_eval(args) -> int:
    from ..evals.runner import EvalConfig, run_eval
    out = configured_run(args, EvalConfig, {"model": "model", "benchmarks": "benchmarks", "backend": "backend.kind",
                                            "base_url": "backend.openai.base_url", "out": "out", "seed": "seed",
                                            "limit": "limit", "batch_size": "batch_size"}, run_eval)
    print(f"results: {out / 'results.json'}\nsamples: {out / 'samples.jsonl'}\nlibrary log: {out / 'logs'}")
    return 0


def cmd_compare(args) -> int:
    from ..evals.compare import compare
    table, pngs = compare(args.run_a, args.run_b, args.out)
    print(table)
    for p in pngs:
        print(f"plot: {p}")
    return 0


def export_eval_config(args):
    """The eval config an export reads: an eval config, or a run config or preset (its eval section at its base
    model, as `needlework run` evaluates it); flags and key=value overrides apply to that config's own keys."""
    from pathlib import Path

    from ..config import load_config, load_yaml
    from ..evals.runner import EvalConfig
    from ..pipeline import load_preset, load_run_config, preset_names
    flags = {"model": "model", "benchmarks": "benchmarks", "seed": "seed", "limit": "limit"}
    preset = bool(args.config) and not Path(args.config).exists() and args.config in preset_names()
    if not preset and not (args.config and {"eval", "train"} & set(load_yaml(args.config))):
        return load_config(EvalConfig, args.config, flag_overrides(args, flags))
    # a run config: the flags set its eval section, and the model is the one it trains (its base model)
    overrides = flag_overrides(args, {**{k: f"eval.{v}" for k, v in flags.items()}, "model": "train.model"})
    run_cfg = load_preset(args.config, overrides) if preset else load_run_config(args.config, overrides)
    return run_cfg.eval_for(run_cfg.base_model(), "<export>")


def cmd_export_lm_eval(args) -> int:
    from ..evals.lm_eval_export.export import export_lm_eval
    done = export_lm_eval(export_eval_config(args), args.out, args.max_length)
    for group, tasks in done["groups"].items():
        print(f"{group}: {len(tasks)} tasks")
    print(f"{done['items']} items, every prompt + max_new_tokens within {done['window']} tokens\n"
          f"lm_eval --include_path {done['folder']} --tasks {','.join(done['groups'])} --model hf "
          f"--model_args pretrained={done['model']},max_length={done['window']} --log_samples --output_path <out>"
          + (" --apply_chat_template" if done["chat"] else ""))
    return 0


def cmd_import_lm_eval(args) -> int:
    from ..evals.lm_eval_export.samples_import import import_lm_eval
    out = import_lm_eval(args.source, args.out)
    print(f"results: {out / 'results.json'}\nsamples: {out / 'samples.jsonl'}")
    return 0


def add_eval_parsers(sub) -> None:
    from ..evals.registry import all_benchmarks
    known = all_benchmarks()   # the help names what is registered, so it cannot go stale
    p = sub.add_parser("eval", help=f"run benchmarks ({', '.join(known)}); resumable",
                       epilog="benchmarks: " + "; ".join(f"{n}: {b.help}" if b.help else n for n, b in known.items()))
    add_config_args(p)
    p.add_argument("--model", help="local HF folder, bundled model name, or the server's model name")
    p.add_argument("--benchmarks", type=comma_list, help=f"comma-separated: {','.join(known)}")
    p.add_argument("--backend", help="backend kind (sets backend.kind), e.g. hf or openai")
    p.add_argument("--base-url", help="OpenAI-compatible server URL (sets backend.openai.base_url)")
    p.add_argument("--out", help="run directory (results.json, samples.jsonl, cache.jsonl)")
    p.add_argument("--seed", type=int)
    p.add_argument("--limit", type=int, help="first N items of each bucket (smoke runs)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--verbose", "-v", action="store_true", help="library output on the terminal, not in logs/")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("compare", help="per-bucket differences of two eval runs, with intervals and PNG plots")
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--out", help="folder for compare.json and the plots (default RUN_B/compare)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("export", help="needlework's benchmarks for another tool (lm-eval task folder)")
    kinds = p.add_subparsers(dest="export_kind", required=True)
    p = kinds.add_parser("lm-eval", help="kv-retrieval, mdqa, flenqa(-cot) at a config's settings as an "
                                         "lm-evaluation-harness task folder (lm_eval --include_path FOLDER)")
    add_config_args(p)
    p.add_argument("--out", required=True, help="the task folder to write (replaced if an earlier export)")
    p.add_argument("--model", help="the model whose tokenizer and window the prompts are checked against")
    p.add_argument("--benchmarks", type=comma_list, help="comma-separated: kv-retrieval,mdqa,flenqa,flenqa-cot")
    p.add_argument("--seed", type=int)
    p.add_argument("--limit", type=int, help="first N items of each bucket")
    p.add_argument("--max-length", type=int, help="the window (default: backend.context_length or the model's)")
    p.set_defaults(func=cmd_export_lm_eval)

    p = sub.add_parser("import", help="another tool's results as a needlework eval folder (lm-eval samples)")
    kinds = p.add_subparsers(dest="import_kind", required=True)
    p = kinds.add_parser("lm-eval", help="lm-eval's --log_samples output of exported tasks -> results.json and "
                                         "samples.jsonl, for `needlework compare` and the report")
    p.add_argument("source", help="lm-eval's --output_path (or the model folder inside it)")
    p.add_argument("--out", required=True, help="the eval folder to write")
    p.set_defaults(func=cmd_import_lm_eval)

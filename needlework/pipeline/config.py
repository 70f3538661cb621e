"""RunConfig: one YAML describes a whole experiment (data -> base eval -> fine-tune -> eval -> report).

Its sections are the very dataclasses the separate commands use (GenerateConfig, TrainConfig,
EvalConfig, BackendConfig), so a setting means the same thing in `needlework run` as in `generate`,
`train` or `eval`. The pipeline owns the fields that tie stages together (output paths, the data files a
model trains on, the model an evaluation reads, per-seed seeds); setting one of those in a run config
is an error that names it, because the pipeline would silently overwrite it.
"""
from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..backends import BackendConfig
from ..config import ConfigError, deep_update, from_dict, load_config, load_yaml, refuse_overlap
from ..evals.registry import benchmark_key
from ..evals.runner import EvalConfig
from ..tasks.files.dataset import GenerateConfig
from ..train.config import TrainConfig

# Fields the pipeline fills in per stage: a run config must not set them (an arm's `train` neither).
OWNED = {"data": ("out", "seed"), "train": ("data", "out", "seed", "resume", "overwrite", "precision", "device",
                                            "num_threads"),
         "eval": ("model", "out", "backend")}
# The run's one precision and device, handed to every stage: the train / backend keys (old names included) a run
# config may not set, each with the top-level setting to use instead.
RUN_LEVEL = {"precision": "precision", "device": "device", "bf16": "precision", "dtype": "precision",
             "num_threads": "threads"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class ReportConfig:
    title: str | None = field(default=None, metadata={"help": "The report's title; null: \"needlework run <name>\"."})
    loss_map: bool = field(default=True, metadata={
        "help": "Token-level loss map of the first fine-tuned model (needlework.probes.loss_map)."})
    loss_map_n: int = field(default=4, metadata={"help": "Samples rendered in the loss map."})
    head_maps: bool = field(default=False, metadata={
        "help": "Retrieval score per attention head, base vs first fine-tuned (eager attention)."})
    head_maps_n: int = field(default=8, metadata={
        "help": "Samples scored for the head maps (held-out rows of the training file)."})
    effective_length_threshold: float = field(default=0.8, metadata={
        "help": "kv-retrieval's effective length is the longest tested length whose accuracy (mean over depths) is "
                "at least this there and at every shorter length; absolute, the same for base and fine-tuned."})
    equivalence_margin: float = field(default=0.02, metadata={
        "help": "Claim 3: a general task's ability is \"kept\" when the 90% paired interval of its change lies "
                "inside ±margin (TOST, evals.equivalence); an absolute accuracy difference."})
    floor_epsilon: float = field(default=0.02, metadata={
        "help": "Claim 3: a base score within this of chance (or of 1) is \"not testable at this model size\"."})
    study_preset: str | None = field(default=None, metadata={
        "help": "The preset that evaluates enough items to decide claim 2 where this run cannot (a transfer change "
                "whose interval contains zero); the verdict names it. Null: none named."})


@dataclass
class EstimateConfig:
    """How the plan's times are found: measured on this machine (a few real steps of the configured model,
    cached per machine) unless `measure` is off or the model runs on a service; then these throughputs. Times
    are advice: nothing here changes what a run evaluates (its items are the config's, at its `size`)."""
    measure: bool = field(default=True, metadata={
        "help": "Measure the plan's times on this machine (a few real steps of the configured model, cached per "
                "machine); false: use the throughputs below."})
    train_tokens_per_s: float = field(default=250.0, metadata={
        "help": "Training throughput assumed where nothing can be measured here (tokens per second)."})
    eval_tokens_per_s: float = field(default=600.0, metadata={
        "help": "Evaluation throughput assumed where nothing can be measured here (tokens per second)."})
    sample_for_tokens: int = field(default=8, metadata={
        "help": "Samples or items tokenised per stage to estimate its token counts."})
    expected_minutes: float | None = field(default=None, metadata={
        "help": "What the preset is meant to take; a longer estimate is said before starting, naming a smaller "
                "size. Null: no warning."})
    expected_minutes_fp32: float | None = field(default=None, metadata={
        "help": "The same where the run computes in fp32 (no native bf16)."})


# Settings of the old time budget (items shrunk to fit this machine's measured speed), each with what replaced it.
_BUDGET_GONE = ("was removed: a run's items no longer depend on this machine's speed; choose a fixed item set with "
                "`size` (small | default | full; `run --size`) and see estimate.expected_minutes for the time the "
                "plan warns about")
REMOVED = {"estimate.budget_minutes": _BUDGET_GONE, "estimate.budget_minutes_fp32": _BUDGET_GONE,
           "estimate.budget_margin": _BUDGET_GONE}
# The named sizes, smallest first: `default` is the config as written; the others apply its `sizes` entry.
SIZES = ("small", "default", "full")


@dataclass
class RunConfig:
    name: str = field(default="cpu-demo", metadata={
        "help": "The run's name: its folder under `root` (letters, digits, _ . -)."})
    root: str = field(default="runs", metadata={"help": "Outputs go under <root>/<name>/."})
    precision: Literal["auto", "bf16", "fp32"] = field(default="auto", metadata={
        "help": "One precision for every stage (training, every evaluation, loss map, the plan's measurements): "
                "auto | bf16 | fp32; auto: bf16 where the device runs it natively, else fp32."})
    device: str = field(default="auto", metadata={
        "help": "One device for every stage: auto | cpu | cuda (auto: a GPU where there is one)."})
    threads: int | None = field(default=None, metadata={
        "help": "Torch CPU threads for every stage (null: every core this process may use)."})
    size: Literal["small", "default", "full"] = field(default="default", metadata={
        "help": "The run's fixed item set: default (this config as written), small or full (deep-merge the `sizes` "
                "entry over it; your file and overrides still win)."})
    sizes: dict[str, dict] = field(default_factory=dict, metadata={
        "help": "Per size (small, full): the settings it changes, e.g. {small: {eval: {mdqa: {n: 10}}}}."})
    seeds: list[int] = field(default_factory=lambda: [0], metadata={
        "help": "Training seeds: one data + training run per seed."})
    arm: str = field(default="ft", metadata={
        "help": "Name of the main fine-tuned model (trained on `data` with `train`)."})
    data: GenerateConfig = field(default_factory=GenerateConfig, metadata={
        "help": "The training data of the main arm (what `needlework generate` takes)."})
    arms: dict[str, dict] = field(default_factory=dict, metadata={
        "help": "More fine-tuned models, each `data` and `train` with these settings changed (deep-merged), e.g. "
                "{niah: {task: niah, params: {...}}, lr-1e-4: {train: {lr: 1.0e-4}}}; an arm that changes `task` "
                "starts from empty params."})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={
        "help": "Training settings of every arm (what `needlework train` takes)."})
    eval: EvalConfig = field(default_factory=EvalConfig, metadata={
        "help": "Evaluation settings, for the base and every fine-tuned model (what `needlework eval` takes)."})
    backend: BackendConfig = field(default_factory=BackendConfig, metadata={
        "help": "How every evaluated model is reached (its `model`: the evaluated one)."})
    report: ReportConfig = field(default_factory=ReportConfig, metadata={
        "help": "What the report shows and how its verdicts decide."})
    estimate: EstimateConfig = field(default_factory=EstimateConfig, metadata={
        "help": "How the plan estimates the run's time."})
    paper_differences: list[str] = field(default_factory=list, metadata={
        "help": "Where this config knowingly differs from the paper, each \"what: why\"; the plan prints them."})

    # ------------------------------------------------------------------ derived, per-stage configs
    def arm_names(self) -> list[str]:
        skipped = self.skipped_arms()
        return [self.arm, *(a for a in self.arms if a not in skipped)]

    def skipped_arms(self) -> dict[str, str]:
        """File-based baselines (task released_qa) whose file is not given: {arm: why it is skipped}."""
        out = {}
        for a, over in self.arms.items():
            if not isinstance(over, dict) or over.get("task") != "released_qa":
                continue
            params = over.get("params") or {}
            if not params.get("path"):
                fmt = params.get("format", "multidocqa")
                shape = "Yu's {context, questions, answers} records" if fmt == "multidocqa" else "chat rows"
                out[a] = (f"no {fmt} file given; needlework ships none (set arms.{a}.params.path to a file of "
                          f"{shape}, see needlework/tasks/baselines/released_qa.py)")
        return out

    def data_for(self, arm: str, seed: int, out: str = "train.jsonl") -> GenerateConfig:
        base = dataclasses.asdict(self.data)
        if arm != self.arm:
            over = copy.deepcopy(self.arms[arm])
            over.pop("train", None)   # the arm's training settings: train_for
            if over.get("task", base["task"]) != base["task"]:
                base["params"] = {}   # another task's settings do not carry over (niah has no dictionaries)
                base["mixture"] = []  # nor do a mixture's components
            deep_update(base, over)
        base.update(seed=seed, out=out)
        if base.get("tokenizer") is None and self.train.backend == "hf":
            base["tokenizer"] = self.train.model   # exact token counts with the model that will train on it
        return from_dict(GenerateConfig, base, f"arms.{arm}" if arm != self.arm else "data")

    def train_for(self, data_files: list[str], seed: int, out: str, arm: str | None = None) -> TrainConfig:
        """The training settings of `arm` (the shared `train` section with the arm's `train` overrides), its
        MDQA probe rendering prompts as the evaluation backend does."""
        raw = dataclasses.asdict(self.train)
        deep_update(raw, copy.deepcopy((self.arms.get(arm) or {}).get("train") or {}))
        raw["mdqa_probe"].update(chat_template=self.backend.chat_template, system_prompt=self.backend.system_prompt)
        if "mdqa" in (benchmark_key(b) for b in self.eval.benchmarks):   # the probe asks as the benchmark does
            probe = raw["mdqa_probe"]
            probe["k"] = self.eval.mdqa.k if probe["k"] is None else probe["k"]
            probe["positions"] = list(self.eval.mdqa.positions) if probe["positions"] is None else probe["positions"]
        raw.update(data=list(data_files), seed=seed, out=out, resume=True, precision=self.precision,
                   device=self.device, num_threads=self.threads)
        return from_dict(TrainConfig, raw, f"arms.{arm}.train" if arm and arm != self.arm else "train")

    def eval_for(self, model: str, out: str) -> EvalConfig:
        backend = self.backend.with_settings(precision=self.precision, device=self.device)
        return dataclasses.replace(self.eval, model=model, out=out, backend=backend)   # its model: `model`

    def resolve_context(self, log=None):
        """The run's one precision.RunContext (device, precision, threads): `needlework run` resolves it once and
        hands it to every stage."""
        from ..precision import resolve_context
        return resolve_context(self.precision, self.device, self.threads, log=log)

    def base_model(self) -> str:
        """The model before fine-tuning, as the evaluation backend names it."""
        return self.train.openai.model if self.train.backend == "openai" else self.train.model

    # ------------------------------------------------------------------ validation (before any work)
    def validate(self) -> None:
        # the run's own device first, before the sections it is handed to name it theirs
        if self.device not in ("auto", "cpu", "cuda"):   # under a launch each process takes its own GPU
            raise ConfigError(f"device must be auto, cpu or cuda for a run, got {self.device!r}")
        from ..precision import check_device
        check_device(self.device)
        if not _NAME.match(self.name):
            raise ConfigError(f"name: {self.name!r} must be a plain folder name (letters, digits, _ . -)")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds: give one or more distinct seeds, got {self.seeds}")
        for a in self.arm_names():
            if not _NAME.match(a):
                raise ConfigError(f"arms: {a!r} must be a plain name (letters, digits, _ . -)")
        if self.arm in self.arms:
            raise ConfigError(f"arms.{self.arm}: the main arm's name is taken by `arm`")
        for a, over in self.arms.items():
            if not isinstance(over, dict):
                raise ConfigError(f"arms.{a}: expected a mapping of data settings")
            for k in OWNED["data"]:
                if k in over:
                    raise ConfigError(f"arms.{a}.{k} is set by the pipeline; remove it")
            if not isinstance(over.get("train", {}), dict):
                raise ConfigError(f"arms.{a}.train: expected a mapping of training settings")
            for k in OWNED["train"]:
                if k in over.get("train", {}):
                    raise ConfigError(f"arms.{a}.train.{k} is set by the pipeline; remove it")
        for a in self.arm_names():   # a section's own message, with the section a run config names it by
            where = "" if a == self.arm else f"arms.{a}: "
            _in_section(where + "data", self.data_for(a, self.seeds[0]).validate)
            _in_section(where + "train", self.train_for(["<generated>"], self.seeds[0], "<stage>", a).validate)
        _in_section("eval", self.eval_for(self.base_model(), "<stage>").validate)
        if self.train.backend == "openai" and self.backend.kind != "openai":
            raise ConfigError("backend.kind must be openai when train.backend is openai (the fine-tuned model "
                              "lives on the service)")
        if self.report.head_maps_n < 1:
            raise ConfigError(f"report.head_maps_n must be >= 1, got {self.report.head_maps_n}")
        if self.report.loss_map_n < 1:
            raise ConfigError(f"report.loss_map_n must be >= 1, got {self.report.loss_map_n}")
        if not 0.0 < self.report.equivalence_margin < 1.0:
            raise ConfigError(f"report.equivalence_margin is an absolute accuracy difference: it must be in (0, 1), "
                              f"got {self.report.equivalence_margin}")
        if not 0.0 <= self.report.floor_epsilon < 0.5:
            raise ConfigError(f"report.floor_epsilon must be in [0, 0.5), got {self.report.floor_epsilon}")
        if not 0.0 < self.report.effective_length_threshold <= 1.0:
            raise ConfigError("report.effective_length_threshold is an accuracy: it must be in (0, 1], got "
                              f"{self.report.effective_length_threshold}")
        if self.device not in ("auto", "cpu", "cuda"):   # under a launch each process takes its own GPU
            raise ConfigError(f"device must be auto, cpu or cuda for a run, got {self.device!r}")
        for k in ("train_tokens_per_s", "eval_tokens_per_s", "expected_minutes", "expected_minutes_fp32"):
            v = getattr(self.estimate, k)
            if v is not None and v <= 0:
                raise ConfigError(f"estimate.{k} must be positive")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1 (or left out: every core this process may use), got {self.threads}")
        for name in self.sizes:
            if name not in SIZES or name == "default":
                raise ConfigError(f"sizes.{name}: a size is small or full (default is the config as written)")
        refuse_overlap("root", Path(self.root) / self.name, {"train.model": self.train.model})


def _reject_owned(raw: dict) -> None:
    for dotted, why in REMOVED.items():
        section, key = dotted.split(".")
        if isinstance(raw.get(section), dict) and key in raw[section]:
            raise ConfigError(f"{dotted} {why}")
    backend = raw.get("backend")
    sections = {"train": raw.get("train"), "backend": backend,   # backend's old flat keys included
                "backend.hf": backend.get("hf") if isinstance(backend, dict) else None}
    for section, sec in sections.items():   # precision, device and threads are the run's, set once at the top level
        for k in sorted(set(sec) & set(RUN_LEVEL)) if isinstance(sec, dict) else ():
            raise ConfigError(f"{section}.{k}: precision, device and threads are set once for every stage of a run; "
                              f"use the top-level `{RUN_LEVEL[k]}` instead")
    general = (raw.get("eval") or {}).get("general") if isinstance(raw.get("eval"), dict) else None
    if isinstance(general, dict) and "device" in general:
        raise ConfigError("eval.general.device: general's hf model runs on the run's one device; use the "
                          "top-level `device` instead")
    for section, keys in OWNED.items():
        sec = raw.get(section)
        if isinstance(sec, dict):
            for k in keys:
                if k in sec:
                    raise ConfigError(f"{section}.{k} is set by the pipeline for each stage; remove it"
                                      + (" (use `seeds`)" if k == "seed" else "")
                                      + (" (use the top-level `backend` section)" if k == "backend" else ""))


def load_run_config(path: str | Path | None = None, overrides: list[str] | None = None,
                    base: dict | None = None) -> RunConfig:
    """Preset/base dict <- YAML file <- the chosen size's `sizes` entry <- key=value overrides, checked strictly;
    every section validated."""
    cfg = load_config(RunConfig, path, overrides, base, check_mapping=_reject_owned)
    if cfg.size == "default":
        return cfg
    if cfg.size not in cfg.sizes:
        raise ConfigError(f"size: {cfg.size} is not defined by this config (its sizes: "
                          f"{', '.join(['default', *cfg.sizes])}); add a `sizes.{cfg.size}` entry")
    sized = copy.deepcopy(base or {})
    if path is not None:
        deep_update(sized, load_yaml(path))
    deep_update(sized, copy.deepcopy(cfg.sizes[cfg.size]))
    return load_config(RunConfig, None, overrides, sized, check_mapping=_reject_owned)


def _in_section(section: str, validate) -> None:
    try:
        validate()
    except ConfigError as e:
        # "train.lora.r must be ..." where the message starts with the setting's name; "data: ..." otherwise
        # (a task's settings live under data.params, which its messages do not say)
        dotted = str(e)[:1].islower() and section in ("train", "eval")
        raise ConfigError(f"{section}.{e}" if dotted else f"{section}: {e}") from None

"""TrainConfig: everything one fine-tuning run depends on, loaded strictly from YAML + overrides.

Settings left `None` are filled by the recipe in `resolved()`: `paper` is the authors' recipe (A.1:
answer-only loss, attention layers, global batch 16, 2 epochs, lr 5e-6); `small` suits a small model on
CPU, where lr 5e-6 would barely move a 135M model in the few hundred steps a CPU run can afford.
The resolved config (not the raw one) is what gets saved and hashed, so two runs that mean the same
thing share a hash.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from ..config import ConfigError, refuse_overlap
from ..io import read_done, to_jsonable


@dataclass
class LoraConfig:
    r: int = field(default=16, metadata={"help": "LoRA rank."})
    alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (the update is scaled by alpha / r)."})
    dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA input, in [0, 1)."})
    target_modules: list[str] | None = field(default=None, metadata={
        "help": "Module names LoRA adapts; null: the model's attention projections (q/k/v/o)."})

    def validate(self) -> None:
        if self.r < 1:
            raise ConfigError(f"lora.r must be >= 1, got {self.r}")
        if self.alpha <= 0:
            raise ConfigError(f"lora.alpha must be positive, got {self.alpha}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"lora.dropout must be in [0, 1), got {self.dropout}")
        if self.target_modules is not None and not self.target_modules:
            raise ConfigError("lora.target_modules is an empty list; leave it out for the attention projections")


@dataclass
class EarlyStopConfig:
    """Stop on a measured signal, not after a fixed step count (train/early_stop.py says how each is measured):
    at first saturation (rule target) or once the signal stopped rising, wherever it levelled off (rule plateau)."""
    enabled: bool = field(default=False, metadata={
        "help": "Stop on a measured signal (train/early_stop.py) instead of after a fixed step count."})
    held_out: int = field(default=8, metadata={
        "help": "Samples taken from the end of the training data and never trained on."})
    every: int = field(default=4, metadata={"help": "Optimizer steps between checks."})
    metric: Literal["answer", "value", "mdqa-probe", "mix"] = field(default="answer", metadata={
        "help": "The signal: answer (every answer token is the argmax on held-out rows) | value (the gold value's "
                "tokens only) | mdqa-probe (the MDQA probe's exact match) | mix (mix_weight x mdqa-probe + (1 - "
                "mix_weight) x value)."})
    rule: Literal["target", "plateau"] = field(default="target", metadata={
        "help": "target: stop once the metric reaches `target` in `patience` checks running | plateau: stop once "
                "`patience` checks brought no gain over the best larger than `min_delta`."})
    target: float = field(default=1.0, metadata={
        "help": "Rule target: the held-out exact match (fraction of samples) that counts as learned."})
    patience: int = field(default=2, metadata={
        "help": "Consecutive checks at target (rule target) or without a gain (rule plateau)."})
    min_delta: float = field(default=0.0, metadata={"help": "Rule plateau: a gain must exceed this to count."})
    mix_weight: float = field(default=0.5, metadata={"help": "Metric mix: the MDQA probe's weight, in (0, 1)."})
    min_steps: int = field(default=0, metadata={"help": "Never stop before this step."})

    RENAMED_VALUES: ClassVar[dict[str, dict[str, str]]] = {"metric": {"transfer": "mdqa-probe"}}   # refused, named

    def validate(self) -> None:
        if self.held_out < 1 or self.every < 1 or self.patience < 1 or self.min_steps < 0:
            raise ConfigError("early_stop: held_out, every and patience must be >= 1 and min_steps >= 0")
        if not 0 < self.target <= 1:
            raise ConfigError(f"early_stop.target must be in (0, 1], got {self.target}")
        if not 0 <= self.min_delta < 1:
            raise ConfigError(f"early_stop.min_delta must be in [0, 1), got {self.min_delta}")
        if not 0 < self.mix_weight < 1:
            raise ConfigError(f"early_stop.mix_weight must be in (0, 1) (use metric mdqa-probe or value for 0 or 1), "
                              f"got {self.mix_weight}")


@dataclass
class MdqaProbeConfig:
    """The MDQA probe (train/mdqa_probe.py): a real-task signal during training, on NQ `dev` questions
    (disjoint from the MDQA benchmark's eval split and from mdqa_train's train split); its curve is the probe curve."""
    enabled: bool = field(default=False, metadata={
        "help": "Measure a real-task signal during training: greedy answers to MDQA questions of the NQ dev split "
                "(disjoint from the benchmark's eval split), scored by best-subspan exact match."})
    n: int = field(default=24, metadata={"help": "Questions asked at each probe."})
    k: int | None = field(default=None, metadata={
        "help": "Documents per prompt; null: as eval.mdqa in a run (10 on its own)."})
    positions: list[int] | None = field(default=None, metadata={
        "help": "1-based positions of the gold document, taken in turn; null: as eval.mdqa in a run "
                "([1, 5, 10] on its own)."})
    every: int = field(default=8, metadata={
        "help": "Optimizer steps between probes (and one at the end); a multiple of early_stop.every, so both "
                "signals share a step."})
    max_new_tokens: int = field(default=24, metadata={
        "help": "Tokens generated per answer; only line one is scored (generation stops at a newline)."})
    seed: int = field(default=0, metadata={"help": "Seed of the probe's question draw."})
    batch_size: int = field(default=8, metadata={"help": "Prompts generated together."})
    chat_template: Literal["auto", "on", "off"] = field(default="auto", metadata={
        "help": "auto | on | off, as the evaluation backend renders prompts (a run sets it from "
                "backend.chat_template)."})
    system_prompt: str | None = field(default=None, metadata={
        "help": "System turn of each prompt, as the evaluation backend's (a run sets it from "
                "backend.system_prompt)."})

    def resolved(self) -> "MdqaProbeConfig":
        """k and positions filled where left null: a run fills them from eval.mdqa (pipeline.config.train_for),
        so a preset states MDQA's layout once; on its own the probe asks 10 documents, gold at 1 / 5 / 10."""
        return dataclasses.replace(self, k=10 if self.k is None else self.k,
                                   positions=[1, 5, 10] if self.positions is None else list(self.positions))

    def validate(self, check_every: int) -> None:
        self = self.resolved()
        if self.n < 1 or self.k < 2 or self.every < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ConfigError("mdqa_probe: n, every, max_new_tokens and batch_size must be >= 1 and k >= 2")
        if not self.positions or any(not 1 <= p <= self.k for p in self.positions):
            raise ConfigError(f"mdqa_probe.positions must lie in 1..k={self.k}, got {self.positions}")
        if self.every % check_every:
            raise ConfigError(f"mdqa_probe.every={self.every} must be a multiple of early_stop.every="
                              f"{check_every}, so both signals are measured at the same steps")


@dataclass
class OpenAIFinetuneConfig:
    model: str = field(default="gpt-3.5-turbo-0125", metadata={"help": "The fine-tunable model on the service."})
    base_url: str | None = field(default=None, metadata={
        "help": "The service's URL; null: the SDK's default (or OPENAI_BASE_URL)."})
    n_epochs: int | None = field(default=None, metadata={
        "help": "Epochs; null: the service chooses (the paper used 2 with its recipe)."})
    suffix: str | None = field(default="needlework", metadata={"help": "Suffix of the fine-tuned model's name."})
    token_limit: int = field(default=16385, metadata={
        "help": "Per-example token limit of the fine-tunable model (prompt + answer); longer rows are refused."})
    poll_seconds: float = field(default=30.0, metadata={"help": "Seconds between job status checks."})
    timeout_seconds: float = field(default=6 * 3600.0, metadata={
        "help": "Give up waiting for the job after this many seconds."})
    tokenizer: str = field(default="tiktoken:cl100k_base", metadata={
        "help": "How tokens are counted for the limit check (e.g. tiktoken:cl100k_base)."})


# The paper's recipe (Xiong et al., A.1) and a CPU-friendly one; keys are TrainConfig fields.
# The paper's prompts reach 4,096 tokens before the answer, so its recipe leaves room for the answer (4,608) and
# checkpoints activations (a 7B model at 4.6K tokens does not fit an 80 GB GPU without it), as the presets do.
RECIPES: dict[str, dict] = {
    "paper": {"params": "attention", "global_batch": 16, "batch_size": 1, "epochs": 2.0,
              "lr": 5e-6, "lr_scheduler": "linear", "warmup_ratio": 0.0, "max_length": 4608,
              "gradient_checkpointing": True},
    "small": {"params": "attention", "global_batch": 8, "batch_size": 4, "epochs": 2.0,
              "lr": None, "lr_scheduler": "linear", "warmup_ratio": 0.05, "max_length": 4096,
              "gradient_checkpointing": False},
}
SMALL_LR = {"attention": 1e-4, "lora": 3e-4, "full": 5e-5}   # lr of the `small` recipe by parameter policy


@dataclass
class TrainConfig:
    model: str = field(default="smollm2-135m-instruct", metadata={
        "help": "The model to fine-tune: HF name, local folder or bundled model name."})
    data: list[str] = field(default_factory=list, metadata={
        "help": "Training JSONL files (messages / prompt_completion / openai rows)."})
    out: str = field(default="runs/train", metadata={"help": "Output folder: checkpoints, the final model, logs."})
    backend: Literal["hf", "openai"] = field(default="hf", metadata={
        "help": "Where training runs: hf (here, with transformers) | openai (the fine-tuning service)."})
    recipe: Literal["paper", "small"] = field(default="small", metadata={
        "help": "Fills every setting left null: paper (the authors': attention layers, batch 16, 2 epochs, lr "
                "5e-6) | small (suits a small model on CPU)."})
    params: Literal["attention", "lora", "full"] | None = field(default=None, metadata={
        "help": "Trained parameters: attention (attention layers, the paper's) | lora | full; null: the recipe's."})
    lora: LoraConfig = field(default_factory=LoraConfig, metadata={"help": "LoRA settings (params: lora)."})
    template: Literal["auto", "chat", "plain"] = field(default="auto", metadata={
        "help": "Prompt rendering: auto (the chat template when the tokenizer has one) | chat | plain."})
    max_length: int | None = field(default=None, metadata={
        "help": "Token limit of a sample; a longer one is an error, never silently truncated (null: the recipe's)."})
    global_batch: int | None = field(default=None, metadata={
        "help": "Samples per optimizer step: batch_size x gradient accumulation x processes (null: the recipe's)."})
    batch_size: int | None = field(default=None, metadata={
        "help": "Samples per forward pass on each device (null: the recipe's)."})
    epochs: float | None = field(default=None, metadata={"help": "Passes over the data (null: the recipe's)."})
    max_steps: int | None = field(default=None, metadata={"help": "Optimizer steps; overrides epochs when set."})
    lr: float | None = field(default=None, metadata={
        "help": "Peak learning rate (null: the recipe's; small: by params)."})
    lr_scheduler: str | None = field(default=None, metadata={
        "help": "transformers' scheduler name, e.g. linear, cosine, constant (null: the recipe's)."})
    warmup_ratio: float | None = field(default=None, metadata={
        "help": "Share of the steps spent warming up the learning rate, in [0, 1) (null: the recipe's)."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    seed: int = field(default=0, metadata={"help": "Training seed (data order and any random initialisation)."})
    precision: Literal["auto", "bf16", "fp32"] = field(default="auto", metadata={
        "help": "auto | bf16 | fp32; auto: bf16 where the device runs it natively, else fp32 (in a run: the "
                "run's)."})
    device: str = field(default="auto", metadata={
        "help": "auto | cpu | cuda (auto: a GPU where there is one; in a run: the run's)."})
    gradient_checkpointing: bool | None = field(default=None, metadata={
        "help": "Recompute activations in the backward pass to save memory; null: the recipe's (paper: on, small: "
                "off)."})
    save: Literal["merged", "adapter"] = field(default="merged", metadata={
        "help": "What is saved: merged (the whole model) | adapter (LoRA weights only; needs params=lora)."})
    save_dtype: Literal["auto", "bf16", "fp32"] = field(default="auto", metadata={
        "help": "The final model's dtype: auto (bf16 where it trained in bf16 on a GPU, else fp32) | bf16 | fp32."})
    checkpoint_weights_only: bool = field(default=False, metadata={
        "help": "Checkpoints without optimizer state (smaller; a resume restarts Adam)."})
    save_steps: int = field(default=50, metadata={"help": "Optimizer steps between checkpoints."})
    save_total_limit: int = field(default=2, metadata={"help": "Checkpoints kept (the oldest are deleted)."})
    keep_checkpoints: bool = field(default=False, metadata={
        "help": "Keep the resume checkpoints once training has finished; off: deleted after the final model and "
                "done.json are written (a finished folder resumes nothing, and each checkpoint holds the optimizer "
                "state on top of the weights)."})
    logging_steps: int = field(default=1, metadata={"help": "Optimizer steps between log lines."})
    report_to: list[str] = field(default_factory=list, metadata={
        "help": "Trackers the training curves also go to (transformers' report_to): tensorboard | wandb | trackio; "
                "each needs its own package."})
    resume: bool = field(default=False, metadata={"help": "Continue from the last checkpoint in `out`."})
    overwrite: bool = field(default=False, metadata={"help": "Discard an existing `out`."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar."})
    num_threads: int | None = field(default=None, metadata={
        "help": "Torch CPU threads (null: every core this process may use)."})
    openai: OpenAIFinetuneConfig = field(default_factory=OpenAIFinetuneConfig, metadata={
        "help": "Settings of the openai backend (the fine-tuning service)."})
    early_stop: EarlyStopConfig = field(default_factory=EarlyStopConfig, metadata={
        "help": "Stop on a measured signal rather than a step count."})
    mdqa_probe: MdqaProbeConfig = field(default_factory=MdqaProbeConfig, metadata={
        "help": "The MDQA probe: a real-task signal measured during training (its curve is the probe curve)."})

    def validate(self) -> None:
        if not self.data:
            raise ConfigError("data: give at least one training file")
        if self.max_length is not None and self.max_length < 8:
            raise ConfigError(f"max_length must be >= 8, got {self.max_length}")
        for name in ("global_batch", "batch_size", "max_steps", "save_steps", "logging_steps"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ConfigError(f"{name} must be >= 1, got {v}")
        if self.lr is not None and self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.save == "adapter" and self.resolved().params != "lora":
            raise ConfigError("save=adapter needs params=lora (attention/full runs save the whole model)")
        if self.batch_size is not None and self.global_batch is not None and self.global_batch % self.batch_size:
            raise ConfigError(f"global_batch={self.global_batch} is not a multiple of batch_size={self.batch_size}: "
                              "choose a batch_size that divides it (gradient accumulation makes up the rest)")
        self.early_stop.validate()
        if self.resolved().params == "lora":
            self.lora.validate()
        if self.mdqa_probe.enabled:
            self.mdqa_probe.validate(self.early_stop.every)
        if self.early_stop.enabled and self.early_stop.metric in ("mdqa-probe", "mix") and not self.mdqa_probe.enabled:
            raise ConfigError(f"early_stop.metric={self.early_stop.metric} needs the MDQA probe: set "
                              "mdqa_probe.enabled=true")
        if self.resume and self.overwrite:
            raise ConfigError("resume and overwrite are both set; choose one")
        check_trackers(self.report_to)
        if self.device not in ("auto", "cpu", "cuda"):   # under a launch each process takes its own GPU
            raise ConfigError(f"device must be auto, cpu or cuda for training, got {self.device!r}")
        if self.epochs is not None and self.epochs <= 0:
            raise ConfigError(f"epochs must be positive, got {self.epochs}")
        if self.warmup_ratio is not None and not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.weight_decay < 0 or self.max_grad_norm <= 0:
            raise ConfigError("weight_decay must be >= 0 and max_grad_norm > 0")
        if self.backend == "hf":
            from ..precision import check_device
            check_device(self.device)
        refuse_overlap("out", self.out, {"model": self.model, "data": self.data})

    # old names, refused with the new one (config.from_dict); never read as the new one
    RENAMED: ClassVar[dict[str, str]] = {"bf16": "precision (auto | bf16 | fp32)", "transfer_probe": "mdqa_probe"}
    # Settings that change no trained weight: where things go, how often checkpoints are kept, progress bars.
    BOOKKEEPING: ClassVar[tuple[str, ...]] = ("out", "resume", "overwrite", "progress", "save_steps",
                                              "save_total_limit", "num_threads", "checkpoint_weights_only",
                                              "keep_checkpoints", "report_to")

    def identity(self) -> dict:
        """What decides the trained model (recipe filled in): the finished marker and the pipeline's train key
        hash this, so a bookkeeping change (progress, out, threads) reuses a finished run."""
        d = to_jsonable(self.resolved())
        for k in self.BOOKKEEPING:
            d.pop(k)
        if self.backend == "openai":   # how long we poll the service changes nothing it trains
            d["openai"].pop("poll_seconds")
            d["openai"].pop("timeout_seconds")
        else:
            d.pop("openai")
        content = self.content()
        if content:
            d["content"] = content
        return d

    def content(self) -> dict:
        """The content fingerprints of the inputs given as files on this machine: the model (when it is a local
        folder: one retrained in place is another model) and each data file (new data at the same path is other
        data). A bundled or hub model and paths not (yet) on disk add nothing."""
        from pathlib import Path

        from ..models import file_sha256, model_content
        out: dict = {}
        model = model_content(self.model) if self.backend == "hf" else None
        if model:
            out["model"] = model
        data = [file_sha256(p) for p in self.data if Path(p).is_file()]
        if data:
            out["data"] = data
        return out

    def resolved(self) -> "TrainConfig":
        """A copy with every recipe-dependent setting filled in."""
        recipe = RECIPES[self.recipe]
        out = dataclasses.replace(self, lora=dataclasses.replace(self.lora), openai=dataclasses.replace(self.openai),
                                  early_stop=dataclasses.replace(self.early_stop),
                                  mdqa_probe=dataclasses.replace(self.mdqa_probe))
        for key, default in recipe.items():
            if getattr(out, key) is None:
                setattr(out, key, default)
        if out.lr is None:
            out.lr = SMALL_LR[out.params]
        if out.global_batch % out.batch_size:   # the recipe's per-device batch: the largest that divides yours
            out.batch_size = max(b for b in range(1, out.batch_size + 1) if out.global_batch % b == 0)
        return out

    def grad_accum(self, world_size: int) -> int:
        """Accumulation steps that make batch_size x steps x processes equal the global batch."""
        per_step = self.batch_size * world_size
        if self.global_batch % per_step:
            raise ConfigError(f"global_batch={self.global_batch} is not a multiple of batch_size={self.batch_size} "
                              f"x {world_size} processes")
        return self.global_batch // per_step


# tracker -> the modules transformers' integration imports (any one of them will do)
TRACKERS: dict[str, tuple[str, ...]] = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",),
                                        "trackio": ("trackio",)}


def check_trackers(report_to: list[str]) -> None:
    """Each chosen tracker is known and its package is installed: refused up front, not after the model loads."""
    import importlib.util
    for name in report_to:
        if name not in TRACKERS:
            raise ConfigError(f"report_to: {name!r} is not one of {', '.join(TRACKERS)} (leave it empty for none)")
        if not any(importlib.util.find_spec(m) is not None for m in TRACKERS[name]):
            raise ConfigError(f"report_to: {name} needs the package {TRACKERS[name][0]!r}, which is not installed "
                              f"(pip install {TRACKERS[name][0]}); needlework does not depend on it")


def finished_here(cfg: TrainConfig, digest: str) -> bool:
    """Whether `cfg.out` holds a run finished with these settings (`digest`: the hash of cfg.identity()).
    A run finished with other settings is an error unless `overwrite`, never silently trained over or reused."""
    mark = read_done(cfg.out)
    if mark is None or cfg.overwrite:
        return False
    if mark.get("key") == digest:
        return True
    raise ConfigError(f"out: {cfg.out} holds a finished run with a different config or different input content (hash "
                      f"{mark.get('key')}, now {digest}: the settings, the data files' and a local model's content "
                      "all count); choose another out or pass overwrite=true")

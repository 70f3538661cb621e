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
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] | None = None   # None: the model's attention projections (q/k/v/o)

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
    """Stop on a measured signal, not after a fixed step count (train/early_stop.py says how each is measured).

    metric: answer (every answer token is the argmax on held-out synthetic rows), value (the gold value's
    tokens only), transfer (the transfer probe's MDQA exact match on NQ dev questions: a real-task signal),
    mix (mix_weight x transfer + (1 - mix_weight) x value).
    rule: target (stop once the metric reaches `target` in `patience` checks running: first saturation) or
    plateau (stop once `patience` checks running brought no gain over the best so far larger than
    `min_delta`: the signal stopped rising, wherever it levelled off)."""
    enabled: bool = False
    held_out: int = 8            # samples taken from the end of the training data and never trained on
    every: int = 4               # optimizer steps between checks
    metric: Literal["answer", "value", "mdqa-probe", "mix"] = "answer"
    rule: Literal["target", "plateau"] = "target"
    target: float = 1.0          # rule target: held-out exact match (fraction of samples) that counts as learned
    patience: int = 2            # consecutive checks at target (target) or without a gain (plateau)
    min_delta: float = 0.0       # rule plateau: a gain must exceed this to count
    mix_weight: float = 0.5      # metric mix: the transfer signal's weight
    min_steps: int = 0           # never stop before this step

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
    """A real-task signal during training (train/transfer_probe.py): greedy answers to `n` MDQA questions of
    the NQ `dev` split (disjoint from the MDQA benchmark's eval split and from mdqa_train's train split),
    `k` documents with the gold one at `positions` in turn, scored by best-subspan exact match. Measured every
    `every` optimizer steps (a multiple of early_stop.every, so both signals share a step) and at the end."""
    enabled: bool = False
    n: int = 24
    k: int = 10
    positions: list[int] = field(default_factory=lambda: [1, 5, 10])
    every: int = 8
    max_new_tokens: int = 24     # only line one is scored; generation stops at a newline
    seed: int = 0
    batch_size: int = 8
    chat_template: Literal["auto", "on", "off"] = "auto"   # as the evaluation backend renders (run sets both)
    system_prompt: str | None = None

    def validate(self, check_every: int) -> None:
        if self.n < 1 or self.k < 2 or self.every < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ConfigError("mdqa_probe: n, every, max_new_tokens and batch_size must be >= 1 and k >= 2")
        if not self.positions or any(not 1 <= p <= self.k for p in self.positions):
            raise ConfigError(f"mdqa_probe.positions must lie in 1..k={self.k}, got {self.positions}")
        if self.every % check_every:
            raise ConfigError(f"mdqa_probe.every={self.every} must be a multiple of early_stop.every="
                              f"{check_every}, so both signals are measured at the same steps")


@dataclass
class OpenAIFinetuneConfig:
    model: str = "gpt-3.5-turbo-0125"
    base_url: str | None = None               # None: the SDK's default (or OPENAI_BASE_URL)
    n_epochs: int | None = None               # None: the service chooses; the paper used 2 with its recipe
    suffix: str | None = "needlework"
    token_limit: int = 16385                  # per-example limit of the fine-tunable model (prompt + answer)
    poll_seconds: float = 30.0
    timeout_seconds: float = 6 * 3600.0
    tokenizer: str = "tiktoken:cl100k_base"   # how tokens are counted for the limit check


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
    model: str = "smollm2-135m-instruct"      # HF name, local folder or bundled model name
    data: list[str] = field(default_factory=list)   # JSONL files (messages / prompt_completion / openai rows)
    out: str = "runs/train"
    backend: Literal["hf", "openai"] = "hf"
    recipe: Literal["paper", "small"] = "small"
    params: Literal["attention", "lora", "full"] | None = None
    lora: LoraConfig = field(default_factory=LoraConfig)
    template: Literal["auto", "chat", "plain"] = "auto"   # auto: the chat template when the tokenizer has one
    max_length: int | None = None             # longer samples are an error, never silently truncated (recipe)
    global_batch: int | None = None           # batch_size x grad_accum x processes
    batch_size: int | None = None             # per device
    epochs: float | None = None
    max_steps: int | None = None              # overrides epochs when set
    lr: float | None = None
    lr_scheduler: str | None = None
    warmup_ratio: float | None = None
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    # auto: bf16 where the device runs it natively and it measures faster, else fp32; device auto: a GPU where
    # there is one (both resolved by needlework.precision.resolve; in a run: the run's top-level settings)
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    device: str = "auto"
    gradient_checkpointing: bool | None = None   # None: the recipe's (paper: on, small: off)
    save: Literal["merged", "adapter"] = "merged"   # adapter only makes sense with params=lora
    # the final model's dtype: auto = bf16 where it trained in bf16 on a GPU (half the disk, what it ran in),
    # else fp32 (a CPU run keeps fp32 masters, and its fp32 evaluation must see the same weights)
    save_dtype: Literal["auto", "bf16", "fp32"] = "auto"
    checkpoint_weights_only: bool = False     # checkpoints without optimizer state (a resume restarts Adam)
    save_steps: int = 50
    save_total_limit: int = 2
    logging_steps: int = 1
    # trackers the training curves also go to, through transformers' own report_to: tensorboard | wandb | trackio
    # (none by default; each needs its own package, which needlework does not install)
    report_to: list[str] = field(default_factory=list)
    resume: bool = False                      # continue from the last checkpoint in `out`
    overwrite: bool = False                   # discard an existing `out`
    progress: bool = True
    num_threads: int | None = None            # torch CPU threads (None: every core this process may use)
    openai: OpenAIFinetuneConfig = field(default_factory=OpenAIFinetuneConfig)
    early_stop: EarlyStopConfig = field(default_factory=EarlyStopConfig)
    mdqa_probe: MdqaProbeConfig = field(default_factory=MdqaProbeConfig)

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
                                              "report_to")

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

"""Writing a dataset file: config -> samples -> rows in one shape -> JSONL or Parquet, atomically.

Rows carry no timestamps and are serialised canonically, so the same config and seed give the same bytes,
and `--shard K/N` outputs concatenate (in K order) to exactly the serial file.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ...config import ConfigError, from_dict
from ...io import atomic_open, atomic_path, dumps
from ...io import to_jsonable
from ...provenance import config_hash, save_provenance
from .. import mixture, position_bias
from ..base import Sample, Task, generate_sample
from ..mixture import MixComponent
from ..registry import get_task, task_key
from .formats import SHAPES, to_row
from .hf_datasets import DATASETS_FORMATS, write_datasets_folder
from ..tokenization.tokens import TokenCounter, make_counter

SELF_CHECK_SAMPLES = 16
SELF_CHECK_SEED = 2**31 - 1   # a stream of its own, so the check does not depend on the shard being written


@dataclass
class GenerateConfig:
    task: str = field(default="simple_kv", metadata={
        "help": "The task that generates the samples (`needlework tasks` lists them; `mixture` mixes several)."})
    n: int = field(default=350, metadata={"help": "Samples to generate."})
    seed: int = field(default=0, metadata={"help": "Seed of the samples: sample i depends only on (seed, i)."})
    out: str = field(default="data/simple_kv.jsonl", metadata={
        "help": "Output file: .jsonl or .parquet; a folder for the datasets formats."})
    format: str = field(default="messages", metadata={
        "help": "Row format: messages | prompt_completion | openai | datasets | datasets_plain."})
    system: str | None = field(default=None, metadata={
        "help": "System message of each row (null: none; openai rows default to the authors' one)."})
    tokenizer: str | None = field(default=None, metadata={
        "help": "Tokenizer that counts tokens for the task's budgets: a bundled name, HF name or path, "
                "tiktoken:<encoding>, or a .model file."})
    chat_template: bool = field(default=False, metadata={
        "help": "Count tokens as the chat template renders the prompt."})
    params: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "The task's own settings (`needlework config show tasks.<task>` lists them)."})
    mixture: list[MixComponent] = field(default_factory=list, metadata={
        "help": "With task: mixture, its components {task, weight, params, name}; `params` is then shared by all "
                "(tasks/mixture.py)."})
    verify_every: int = field(default=64, metadata={
        "help": "Fully re-tokenise every k-th sample as a guard on the token counts; 0: never."})

    def validate(self) -> None:
        if self.n < 1:
            raise ConfigError(f"n must be >= 1, got {self.n}")
        if self.format not in SHAPES + DATASETS_FORMATS:
            raise ConfigError(f"format must be one of {', '.join(SHAPES + DATASETS_FORMATS)}, got {self.format!r}")
        if self.format in DATASETS_FORMATS:
            if self.out.endswith((".jsonl", ".parquet")):
                raise ConfigError(f"format={self.format} writes a folder (datasets.save_to_disk); out names a "
                                  f"file: {self.out!r}")
        elif not (self.out.endswith(".jsonl") or self.out.endswith(".parquet")):
            raise ConfigError(f"out must end in .jsonl or .parquet, got {self.out!r}")
        if self.verify_every < 0:
            raise ConfigError(f"verify_every must be >= 0, got {self.verify_every}")
        if self.mixture and not self.is_mixture:
            raise ConfigError(f"mixture is set but task is {self.task!r}; set task: mixture to mix tasks")
        self.task_config()

    @property
    def is_mixture(self) -> bool:
        return task_key(self.task) == mixture.NAME

    def component_config(self, k: int, n: int = 1) -> "GenerateConfig":
        """Component k of a mixture as a plain one-task config (its own seed; n = its share of the samples)."""
        return dataclasses.replace(self, task=self.mixture[k].task, n=max(1, n),
                                   seed=mixture.component_seed(self.seed, k),
                                   params=mixture.merged_params(self.mixture, self.params, k), mixture=[])

    def task_config(self) -> Any:
        if self.is_mixture:   # {component name: its validated task config}
            mixture.validate_mixture(self.mixture, self.params)
            out = {}
            for k, name in enumerate(mixture.component_names(self.mixture)):
                try:
                    out[name] = self.component_config(k).task_config()
                except ConfigError as e:
                    raise ConfigError(f"mixture[{k}] ({self.mixture[k].task}): {e}") from None
            return out
        task = get_task(self.task)
        cfg = from_dict(task.config_cls, self.params, "params")
        cfg.validate()
        return cfg

    def identity(self) -> dict:
        """What decides the file's rows (not where it is written, nor how often the counts are re-checked)."""
        d = to_jsonable(self)
        del d["out"], d["verify_every"]
        return d

    def data_hash(self) -> str:
        """Hash of everything that shapes a sample's content (not n, seed, output path or row shape)."""
        if self.is_mixture:
            return config_hash({"task": mixture.NAME, "params": to_jsonable(self.task_config()),
                                "weights": [c.weight for c in self.mixture],
                                "tokenizer": self.tokenizer, "chat_template": self.chat_template,
                                "system": self.system})
        return config_hash({"task": get_task(self.task).name, "params": to_jsonable(self.task_config()),
                            "tokenizer": self.tokenizer, "chat_template": self.chat_template, "system": self.system})


def parse_shard(shard: str | None, n: int) -> range:
    if shard is None:
        return range(n)
    try:
        k, total = (int(x) for x in shard.split("/"))
    except ValueError:
        raise ConfigError(f"shard must look like K/N with 0 <= K < N, got {shard!r}") from None
    if not 0 <= k < total:
        raise ConfigError(f"shard {shard}: need 0 <= K < N")
    return range(k * n // total, (k + 1) * n // total)


_OWN_COUNTER = object()


class SampleMaker:
    """Samples of one config, with an exact token counter whose shortcut was verified for this tokenizer.
    A mixture's maker holds one maker per component, all sharing its counter (tasks/mixture.py)."""

    def __init__(self, cfg: GenerateConfig, counter: Any = _OWN_COUNTER):
        cfg.validate()
        self.cfg = cfg
        self.task_cfg = cfg.task_config()
        self.hash = cfg.data_hash()
        system = cfg.system
        if system is None and cfg.format == "openai":
            from .formats import OPENAI_SYSTEM
            system = OPENAI_SYSTEM
        self.counter: TokenCounter | None = (make_counter(cfg.tokenizer, cfg.chat_template, system)
                                             if counter is _OWN_COUNTER else counter)
        if cfg.is_mixture:
            self._init_mixture()
            return
        self.parts: list[SampleMaker] = []
        self.task: Task = get_task(cfg.task)
        # A task that picks records from a file (released_qa) may hold fewer samples than asked: write those.
        self.n = cfg.n
        if hasattr(self.task_cfg, "available"):
            self.n = min(cfg.n, self.task_cfg.available(cfg.seed, self.counter))
        self.mismatched_in_check = 0
        if self.counter is not None:
            probe_seed = cfg.seed if hasattr(self.task_cfg, "for_index") else SELF_CHECK_SEED
            probe = [self.sample(i, seed=probe_seed, verify=False).prompt
                     for i in range(min(SELF_CHECK_SAMPLES, self.n))]
            self.mismatched_in_check = len(self.counter.self_check(probe))

    def _init_mixture(self) -> None:
        cfg = self.cfg
        self.task = None
        self.n = cfg.n
        self.names = mixture.component_names(cfg.mixture)
        self.comp, self.rank = mixture.choices(cfg.seed, cfg.n, cfg.mixture)
        self.counts = [int((self.comp == k).sum()) for k in range(len(cfg.mixture))]
        self.parts = [SampleMaker(cfg.component_config(k, c), counter=self.counter) for k, c in enumerate(self.counts)]
        for k, (part, count) in enumerate(zip(self.parts, self.counts)):
            if part.n < count:   # a file component (released_qa) holds fewer records than its share
                raise ConfigError(f"mixture[{k}] ({self.names[k]}): {count} of the {cfg.n} samples fall to it but "
                                  f"only {part.n} records fit its settings; lower its weight or n")
        self.mismatched_in_check = sum(p.mismatched_in_check for p in self.parts)

    def mixture_card(self) -> list[dict[str, Any]] | None:
        """What the mixture was: per component its task, weight, share, seed, sample count and settings."""
        if not self.cfg.is_mixture:
            return None
        return [{"name": name, "task": part.task.name, "weight": c.weight, "share": round(share, 6),
                 "seed": part.cfg.seed, "samples": count, "params": to_jsonable(part.task_cfg)}
                for name, part, c, share, count in zip(self.names, self.parts, self.cfg.mixture,
                                                       mixture.shares(self.cfg.mixture), self.counts)]

    def sample(self, index: int, seed: int | None = None, verify: bool = True) -> Sample:
        if self.cfg.is_mixture:   # the component chosen for `index`, at its own index (see tasks/mixture.py)
            k = int(self.comp[index])
            s = self.parts[k].sample(int(self.rank[index]), verify=verify)
            s.meta.update(config_hash=self.hash, component=self.names[k])
            return s
        seed = self.cfg.seed if seed is None else seed
        task_cfg = position_bias.resolve(_resolve_sweeps(self.task_cfg, index), seed, index, self.cfg.n)
        if hasattr(task_cfg, "for_index"):   # the sample is a record chosen by index (released_qa)
            task_cfg = task_cfg.for_index(seed, index, self.counter)
        s = generate_sample(self.task, task_cfg, seed, index, self.counter)
        if self.counter is not None and s.meta.get("n_tokens") is None:
            s.meta["n_tokens"] = self.counter(s.prompt)
        if verify and self.counter is not None and self.cfg.verify_every and index % self.cfg.verify_every == 0:
            exact = self.counter.full_count(s.prompt)
            if exact != s.meta["n_tokens"]:   # the self-check passed, yet a count is off: never write it
                raise RuntimeError(f"sample {index}: counted {s.meta['n_tokens']} tokens but the tokenizer gives "
                                   f"{exact}; please report this tokenizer ({self.cfg.tokenizer})")
        s.meta.update(config_hash=self.hash, tokenizer=self.cfg.tokenizer)
        return s

    def rows(self, indices: range) -> Iterator[dict]:
        for i in indices:
            yield to_row(self.sample(i), self.cfg.format, self.cfg.system)


def _resolve_sweeps(task_cfg: Any, index: int) -> Any:
    """A list of gold positions/depths is swept: sample i takes element i mod len."""
    changes = {}
    for name in ("gold_position", "gold_depth"):
        v = getattr(task_cfg, name, None)
        if isinstance(v, list):
            changes[name] = v[index % len(v)]
    return dataclasses.replace(task_cfg, **changes) if changes else task_cfg


def _check_output(out: Path, row_bytes: int, n: int) -> None:
    """Refuse before writing: an output that is a folder or under a file, or a file larger than the free disk
    (measured from sample 0: a typo in n would otherwise fill the disk before anyone notices)."""
    import shutil
    if out.is_dir():
        raise ConfigError(f"out: {out} is a folder; give a file path (.jsonl or .parquet)")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"out: {out} cannot be written: {parent} is a file, not a folder")
    need, free = row_bytes * n, shutil.disk_usage(parent).free
    if need > free:
        raise ConfigError(f"n={n:,} samples of ~{row_bytes:,} bytes need ~{need / 1e9:,.1f} GB; {parent} has "
                          f"{free / 1e9:,.1f} GB free: choose a smaller n (or shards, --shard K/N, on other disks)")


def _generate_folder(cfg: GenerateConfig, gen: "SampleMaker", shard: str | None, indices: range,
                     progress: bool) -> Path:
    """The datasets formats: every sample into one save_to_disk folder (hf_datasets.py), provenance beside it."""
    from tqdm import tqdm

    if shard is not None:
        raise ConfigError(f"--shard: format={cfg.format} writes one folder; generate JSONL shards instead")
    out = Path(cfg.out)
    length_field = None if cfg.is_mixture else get_task(cfg.task).length_field
    bar = tqdm(indices, desc=f"generate {cfg.task}", unit="sample", disable=not progress, leave=False)
    splits = write_datasets_folder((gen.sample(i) for i in bar), cfg.format, cfg.system, out, length_field)
    save_provenance(str(out) + ".provenance.json", cfg, task_config=gen.task_cfg, data_hash=gen.hash,
                    splits=splits, token_counting=None if gen.counter is None else gen.counter.mode,
                    self_check_mismatches=gen.mismatched_in_check,
                    **({"mixture": gen.mixture_card()} if cfg.is_mixture else {}))
    return out


def generate_file(cfg: GenerateConfig, shard: str | None = None, progress: bool = True) -> Path:
    """Write the dataset (or one shard of it) atomically, with a provenance file beside it."""
    from tqdm import tqdm

    gen = SampleMaker(cfg)
    indices = parse_shard(shard, gen.n)
    if cfg.format in DATASETS_FORMATS:
        return _generate_folder(cfg, gen, shard, indices, progress)
    first = next(iter(gen.rows(range(indices.start, indices.start + 1))), None) if len(indices) else None
    out = Path(cfg.out)
    _check_output(out, len(dumps(first).encode("utf-8")) + 1 if first is not None else 0, len(indices))
    bar = tqdm(total=len(indices), desc=f"generate {cfg.task}", unit="sample", disable=not progress, leave=False)

    def rows() -> Iterator[dict]:
        if first is not None:   # sample 0 was generated before any file was opened: bad settings fail early
            bar.update(1)
            yield first
        for row in gen.rows(range(indices.start + 1, indices.stop)):
            bar.update(1)
            yield row

    if out.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
        table = pa.Table.from_pylist(list(rows()))
        with atomic_path(out) as tmp:
            pq.write_table(table, tmp)
    else:
        with atomic_open(out) as f:
            for row in rows():
                f.write(dumps(row) + "\n")
    bar.close()
    save_provenance(str(out) + ".provenance.json", cfg, task_config=gen.task_cfg, data_hash=gen.hash,
                    shard=shard, indices=[indices.start, indices.stop],
                    token_counting=None if gen.counter is None else gen.counter.mode,
                    self_check_mismatches=gen.mismatched_in_check,
                    **({"mixture": gen.mixture_card()} if cfg.is_mixture else {}))
    return out

"""Experiment configuration: typed dataclasses; TOML files only set values.

A config file has up to four tables, each optional, each key optional::

    [features]      # FeatureConfig
    kind = "fbank"
    [model]         # ModelConfig
    hidden_size = 256
    [spec_augment]  # SpecAugmentConfig
    time_masks = 2
    [train]         # TrainConfig
    epochs = 30

Unknown tables or keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

import tomllib

from asr.errors import AsrError
from asr.features import FeatureConfig, SpecAugmentConfig
from asr.files import atomic_write_text
from asr.model import ModelConfig


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping."""

    epochs: int = 30  # passes over the training set
    lr: float = 2e-3  # peak learning rate of AdamW
    weight_decay: float = 1e-2  # AdamW decoupled weight decay
    warmup_steps: int = 200  # linear warm-up, then cosine decay to lr * final_lr_ratio
    final_lr_ratio: float = 0.05  # learning rate at the last step, relative to lr
    grad_clip: float = 5.0  # clip the global gradient norm (guards against exploding gradients)
    max_frames_per_batch: int = 24000  # padded feature frames per batch (memory bound)
    max_batch: int = 32  # utterances per batch at most
    spec_augment: bool = True  # SpecAugment on training features
    seed: int = 0  # makes runs repeatable (same data order, masks, dropout, initialisation)
    device: str = "auto"  # "auto" (CUDA when available), "cpu" or "cuda[:N]"
    threads: int = 0  # intra-op CPU threads; 0 means all cores
    save_every_steps: int = 200  # also write the resume state every N steps (0: only per epoch)
    log_every_steps: int = 50  # metrics log row every N steps
    # model.pt holds the mean of the last N epochs' weights instead of the best epoch's (0: the best epoch, by
    # validation WER then loss): one model that is less the luck of one epoch's last batches
    average_epochs: int = 0
    # fine-tuning: start from this model file's weights, vocabulary and feature statistics instead of random
    # weights (its features and network must be this config's): a .pt or float .onnx file, or a packaged model's
    # name ("english"); "" trains from scratch
    init_from: str = ""


@dataclass
class ExperimentConfig:
    """Everything that defines a training run."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str | None = None) -> ExperimentConfig:
        sections = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(values) - set(sections)
        if unknown:
            raise AsrError(f"unknown config table(s): {', '.join(sorted(unknown))}; "
                           f"expected {', '.join(sections)}", source)
        built = {}
        for name, section in sections.items():
            section_type = section.default_factory().__class__  # type: ignore[misc]
            built[name] = _build(section_type, values.get(name, {}), f"[{name}]", source)
        return cls(**built)

    def write_json(self, path: str | os.PathLike[str]) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")


def _build(kind: type, values: Any, where: str, source: str | None) -> Any:
    if not isinstance(values, dict):
        raise AsrError(f"{where} must be a table", source)
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = set(values) - names
    if unknown:
        raise AsrError(f"unknown key(s) in {where}: {', '.join(sorted(unknown))}", source)
    defaults = kind()
    for key, value in values.items():
        default = getattr(defaults, key)
        if default is not None and not _same_type(default, value):
            raise AsrError(f"{where} {key} must be {type(default).__name__}, got {value!r}", source)
    try:
        return kind(**values)
    except TypeError as error:
        raise AsrError(f"{where}: {error}", source) from None


def _same_type(default: Any, value: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, type(default))


def load_config(path: str | os.PathLike[str] | None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a TOML config (or the defaults when ``path`` is None) and apply ``table.key=value`` overrides.

    Override values are parsed as TOML values (``train.epochs=5``, ``model.rnn_type="gru"``; a bare word
    is taken as a string).
    """
    values: dict[str, Any] = {}
    source = None if path is None else os.fspath(path)
    if path is not None:
        if not os.path.isfile(path):
            raise AsrError("config file not found", path)
        try:
            with open(path, "rb") as handle:
                values = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise AsrError(f"not valid TOML ({error})", path) from None
        ExperimentConfig.from_dict(values, source)  # a bad file is named as the culprit, before any override
    for override in overrides or []:
        key, sep, raw = override.partition("=")
        table, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise AsrError(f"an override looks like table.key=value, got {override!r}")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        values.setdefault(table, {})[name] = value
        ExperimentConfig.from_dict(values, f"--set {override}")  # a bad override is named, not the file
    return ExperimentConfig.from_dict(values, source)

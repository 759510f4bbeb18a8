"""The resume state of a training run (``train_state.pt``): what it holds, and how a run comes back from it.

The file is a model package (:meth:`asr.recognizer.Recognizer.package`, so it loads as a model file) plus
the optimiser and scheduler states, the run's :class:`Progress` and both random generators' states, so a
resumed run draws the same batches, masks and dropout as one never interrupted.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from asr.checkpoint import atomic_save, network_weights, safe_load
from asr.config import ExperimentConfig
from asr.errors import AsrError

if TYPE_CHECKING:
    from asr.model import AcousticModel
    from asr.recognizer import Recognizer


@dataclass
class Progress:
    """Where a run stands: saved as the state's ``progress``, ``history`` and ``best`` entries."""

    epoch: int = 0  # epochs finished
    batch: int = 0  # batches of the current epoch already taken
    step: int = 0  # batches taken in all, skipped ones included (the scheduler's step)
    skipped_batches: int = 0  # batches skipped for a non-finite loss or gradient
    history: list[dict[str, Any]] = field(default_factory=list)  # one metrics row per finished epoch
    best: dict[str, float] = field(default_factory=lambda: {"wer": math.inf, "loss": math.inf})  # of model.pt


def read_state(path: str | os.PathLike[str], config: ExperimentConfig) -> dict[str, Any] | None:
    """The resume state at ``path``, or ``None`` when there is none. Refuses the state of a run whose
    config differs in anything but where it executes and how many epochs it lasts."""
    if not os.path.exists(path):
        return None
    state = safe_load(path)
    if _resumable(state["metadata"]["config"]) != _resumable(config.to_dict()):
        raise AsrError("the config differs from the interrupted run's; use a new experiment folder "
                       "or train without resume", path)
    return state


def restore(state: dict[str, Any], network: AcousticModel, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.LRScheduler) -> Progress:
    """Load ``state`` into the freshly built network, optimiser and scheduler, set both random generators
    where the interrupted run left them, and return its progress."""
    network.load_state_dict(network_weights(state["state_dict"]))
    optimizer.load_state_dict(state["optimizer"])
    # the schedule's length is not saved (a lambda): more epochs now stretch it to the new total
    scheduler.load_state_dict(state["scheduler"])
    saved = state["progress"]
    torch.set_rng_state(state["rng"]["torch"])
    random.setstate(_to_tuple(state["rng"]["python"]))
    return Progress(saved["epoch"], saved["batch"], saved["step"], saved["skipped_batches"], state["history"],
                    state["best"])


def save_state(path: str | os.PathLike[str], recognizer: Recognizer, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler, progress: Progress) -> None:
    """Write the resume state atomically: a crash leaves the previous state whole."""
    package = recognizer.package()
    package.update(
        optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict(),
        progress={"epoch": progress.epoch, "batch": progress.batch, "step": progress.step,
                  "skipped_batches": progress.skipped_batches},
        history=progress.history,
        best=progress.best,
        rng={"torch": torch.get_rng_state(), "python": list(_to_list(random.getstate()))},
    )
    atomic_save(package, path)


def _resumable(config: dict[str, Any]) -> dict[str, Any]:
    """The parts of a config that must match to resume: all but where the run executes and how long it lasts
    (a finished run given more epochs goes on, its learning-rate schedule stretched to the new length)."""
    train_part = {k: v for k, v in config["train"].items() if k not in ("device", "threads", "epochs")}
    return {**config, "train": train_part}


def _to_list(value: Any) -> Any:
    return [_to_list(v) for v in value] if isinstance(value, tuple | list) else value


def _to_tuple(value: Any) -> Any:
    return tuple(_to_tuple(v) for v in value) if isinstance(value, list | tuple) else value

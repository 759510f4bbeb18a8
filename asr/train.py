"""Training: a plain loop over length-bucketed batches with CTC loss.

Files written to the experiment folder:
  ``config.json``      the resolved configuration;
  ``model.pt``         the best model so far (lowest validation WER), a self-contained model file;
  ``last.pt``          the model after the latest epoch;
  ``train_state.pt``   everything needed to resume (written every ``save_every_steps`` and per epoch);
  ``metrics.jsonl``    one row per logged step and per epoch.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from asr.checkpoint import atomic_save, remove_stale_temporaries, safe_load
from asr.config import ExperimentConfig
from asr.data import BucketBatches, Example, collate, feature_statistics, load_examples
from asr.decode import GreedyDecoder
from asr.errors import AsrError
from asr.features import FeatureExtractor, SpecAugment
from asr.manifest import Utterance
from asr.model import AcousticModel
from asr.plots import plot_training
from asr.recognizer import Recognizer
from asr.scoring import score
from asr.text import BLANK_INDEX, Vocabulary, normalize_text

log = logging.getLogger(__name__)

STATE_FILE = "train_state.pt"
BEST_FILE = "model.pt"
LAST_FILE = "last.pt"
METRICS_FILE = "metrics.jsonl"


@dataclass
class TrainResult:
    """What a finished run produced."""

    best_model: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    skipped_batches: int = 0
    skipped_utterances: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Distributed:
    """Where this process stands in a data-parallel job (``world_size == 1``: a single process)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _all_finite(loss: torch.Tensor, dist: Distributed) -> bool:
    """Whether the loss is finite on every rank: all ranks must skip a batch together, or the gradient
    all-reduce of the others would wait forever."""
    finite = torch.isfinite(loss.detach()).to(torch.float32).reshape(1)
    if dist.world_size > 1:
        torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
    return bool(finite.item() > 0)


def environment(seed: int) -> dict[str, Any]:
    """What a run's numbers hang on besides the config: the seed, torch's CPU thread count and the library
    versions. Stored in the model file's metadata (``metadata["environment"]``) and in recipe results."""
    import platform

    import numpy
    import torchaudio

    # str(): torch.__version__ is a str subclass, which a weights-only load of the model file refuses
    return {"seed": int(seed), "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": str(torch.__version__), "torchaudio": str(torchaudio.__version__),
            "numpy": str(numpy.__version__)}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AsrError(f"device {name!r} asked for, but no CUDA device is available")
    return torch.device(name)


def lr_schedule(step: int, warmup: int, total: int, final_ratio: float) -> float:
    """Multiplier of the peak learning rate: linear warm-up, then cosine decay to ``final_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def ctc_loss(log_probs: torch.Tensor, out_lengths: torch.Tensor, targets: torch.Tensor,
             target_lengths: torch.Tensor) -> torch.Tensor:
    """Mean per-utterance CTC loss. ``log_probs (batch, frames, vocab)``; ``targets (batch, tokens)``."""
    return nn.functional.ctc_loss(
        log_probs.float().transpose(0, 1), targets, out_lengths, target_lengths,
        blank=BLANK_INDEX, reduction="sum", zero_infinity=False,
    ) / log_probs.shape[0]


@dataclass
class StepResult:
    """What one optimisation step did."""

    loss: float  # the batch's mean per-utterance CTC loss (NaN or inf when the batch was skipped)
    applied: bool  # False: a non-finite loss or gradient, and the weights were left as they were
    utterances: int
    frames: int  # feature frames in the batch, padding excluded


def train_step(
    model: nn.Module,
    examples: Sequence[Example],
    extractor: FeatureExtractor,
    optimizer: torch.optim.Optimizer,
    grad_clip: float,
    augment: SpecAugment | None = None,
    dist: Distributed | None = None,
) -> StepResult:
    """One optimisation step on ``examples``, shared by training and adaptation (:mod:`asr.adapt`).

    Collates ``examples`` (``features (frames, dim)`` each) into a ``(batch, frames, dim)`` batch on the
    model's device, applies ``augment``, runs ``model`` (the network, or its DistributedDataParallel wrapper)
    under bfloat16 autocast on CUDA, and takes a CTC-loss step with the global gradient norm clipped to
    ``grad_clip``. A batch whose loss or gradient is not finite is skipped, on every rank of ``dist`` alike.
    The learning-rate schedule is the caller's.
    """
    device = next(model.parameters()).device
    batch = collate(examples, extractor).to(device)
    features = augment(batch.features) if augment is not None else batch.features
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        log_probs, out_lengths = model(features, batch.lengths)
    loss = ctc_loss(log_probs, out_lengths, batch.targets, batch.target_lengths)
    optimizer.zero_grad(set_to_none=True)
    applied = False
    if _all_finite(loss, dist or Distributed()):
        loss.backward()
        # model.parameters() of a DistributedDataParallel wrapper are the wrapped network's own
        grad_norm = nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        # a non-finite gradient must never reach the weights; all ranks agree through the all-reduce
        if torch.isfinite(grad_norm):
            optimizer.step()
            applied = True
    return StepResult(loss.item(), applied, len(examples), int(batch.lengths.sum()))


def train(
    config: ExperimentConfig,
    train_utterances: Sequence[Utterance],
    valid_utterances: Sequence[Utterance] | None,
    exp_dir: str | os.PathLike[str],
    resume: bool = True,
    dist: Distributed | None = None,
    progress: bool = True,
    stop_after_steps: int | None = None,
) -> TrainResult:
    """Train a model; with ``resume`` and a ``train_state.pt`` in ``exp_dir``, continue from it.

    ``stop_after_steps`` ends the run early (after writing the resume state) once that many optimizer
    steps have been taken in total: a time-boxed run that a later call resumes.
    Returns the path of the best model and the per-epoch history.
    """
    dist = dist or Distributed()
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    if dist.is_main:
        remove_stale_temporaries(exp_dir)  # a run killed mid-save leaves its temporary file behind
    cfg = config.train
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    seed_everything(cfg.seed)

    state_path = exp_dir / STATE_FILE
    state = safe_load(state_path) if resume and state_path.exists() else None
    if state is not None and _resumable(state["metadata"]["config"]) != _resumable(config.to_dict()):
        raise AsrError("the config differs from the interrupted run's; use a new experiment folder "
                       "or train without resume", state_path)

    extractor = FeatureExtractor(config.features)
    vocab = (Vocabulary(state["vocabulary"]) if state is not None
             else Vocabulary.from_transcripts(normalize_text(u.text) for u in train_utterances))
    train_set, skipped = load_examples(train_utterances, extractor, vocab, config.model.subsampling,
                                       desc="train features")
    if not train_set:
        raise AsrError("no usable training utterances (see the warnings above)")
    valid_set: list[Example] = []
    if valid_utterances:
        valid_set, valid_skipped = load_examples(valid_utterances, extractor, vocab,
                                                 config.model.subsampling, desc="valid features")
        skipped += valid_skipped
    if state is not None:
        extractor.set_statistics(state["state_dict"]["features.mean"], state["state_dict"]["features.std"])
    else:
        extractor.set_statistics(*feature_statistics(train_set, extractor))

    seed_everything(cfg.seed)
    network = AcousticModel(config.features.dim, len(vocab), config.model).to(device)
    model: nn.Module = network
    if dist.world_size > 1:
        model = nn.parallel.DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda"
                                                    else None)
        torch.manual_seed(cfg.seed + dist.rank)  # each rank draws its own augmentation masks and dropout
    optimizer = torch.optim.AdamW(network.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches = BucketBatches([e.features.shape[0] for e in train_set], cfg.max_frames_per_batch, cfg.max_batch,
                            seed=cfg.seed, rank=dist.rank, world_size=dist.world_size)
    total_steps = cfg.epochs * len(batches)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_schedule(s, cfg.warmup_steps, total_steps, cfg.final_lr_ratio))
    augment = SpecAugment(config.spec_augment) if cfg.spec_augment else None

    epoch, batch_in_epoch, step, skipped_batches = 0, 0, 0, 0
    history: list[dict[str, Any]] = []
    best = {"wer": math.inf, "loss": math.inf}
    if state is not None:
        network.load_state_dict({k[len("network."):]: v for k, v in state["state_dict"].items()
                                 if k.startswith("network.")})
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        progress_state = state["progress"]
        epoch, batch_in_epoch, step = progress_state["epoch"], progress_state["batch"], progress_state["step"]
        skipped_batches, history, best = progress_state["skipped_batches"], state["history"], state["best"]
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(_to_tuple(state["rng"]["python"]))
        if dist.is_main:
            log.info("resumed from %s at epoch %d, batch %d", state_path, epoch + 1, batch_in_epoch)

    recognizer = Recognizer(extractor, network, vocab)
    run_environment = environment(cfg.seed)
    recognizer.metadata = {"config": config.to_dict(), "environment": run_environment}

    def save_state() -> None:
        if not dist.is_main:
            return
        package = recognizer.package()
        package.update(
            optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict(),
            progress={"epoch": epoch, "batch": batch_in_epoch, "step": step, "skipped_batches": skipped_batches},
            history=history,
            best=best,
            rng={"torch": torch.get_rng_state(), "python": list(_to_list(random.getstate()))},
        )
        atomic_save(package, state_path)

    metrics = open(exp_dir / METRICS_FILE, "a", encoding="utf-8") if dist.is_main else None
    if dist.is_main:
        config.write_json(exp_dir / "config.json")
        n_params = sum(p.numel() for p in network.parameters())
        log.info("%d training utterances, %d validation, vocabulary %d, %d parameters, %d batches/epoch",
                 len(train_set), len(valid_set), len(vocab), n_params, len(batches))

    while epoch < cfg.epochs:
        network.train()
        order = batches.epoch(epoch)
        bar = tqdm(order, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", initial=batch_in_epoch,
                   disable=None if (progress and dist.is_main) else True, leave=False, mininterval=1.0)
        total_loss, total_utts, frames_seen, started = 0.0, 0, 0, time.perf_counter()
        for indices in order[batch_in_epoch:]:
            result = train_step(model, [train_set[i] for i in indices], extractor, optimizer, cfg.grad_clip,
                                augment, dist)
            scheduler.step()
            step += 1
            batch_in_epoch += 1
            if result.applied:
                total_loss += result.loss * result.utterances
                total_utts += result.utterances
            else:
                skipped_batches += 1
                log.warning("skipped batch at step %d: non-finite loss or gradient", step)
            frames_seen += result.frames
            elapsed = time.perf_counter() - started
            bar.update(1)
            bar.set_postfix(loss=f"{total_loss / max(total_utts, 1):.3f}",
                            fps=f"{frames_seen / max(elapsed, 1e-9):.0f}")
            if metrics is not None and cfg.log_every_steps and step % cfg.log_every_steps == 0:
                _write_row(metrics, {"step": step, "epoch": epoch + 1, "train_loss": result.loss,
                                     "lr": scheduler.get_last_lr()[0]})
            if cfg.save_every_steps and step % cfg.save_every_steps == 0:
                save_state()
            if stop_after_steps is not None and step >= stop_after_steps:
                save_state()
                bar.close()
                if metrics is not None:
                    metrics.close()
                return TrainResult(exp_dir / BEST_FILE, history, skipped_batches, skipped)
        bar.close()
        row = {"epoch": epoch + 1, "step": step,
               "train_loss": total_loss / max(total_utts, 1),
               "frames_per_second": frames_seen / max(time.perf_counter() - started, 1e-9),
               "skipped_batches": skipped_batches}
        if valid_set and dist.is_main:
            row.update(validate(network, extractor, vocab, valid_set, device))
        epoch += 1
        batch_in_epoch = 0
        history.append(row)
        if dist.is_main:
            recognizer.metadata = {"config": config.to_dict(), "environment": run_environment, "epoch": epoch,
                                   "step": step, **_metrics_of(row)}
            improved = (row.get("valid_wer", 0.0), row.get("valid_loss", row["train_loss"])) < (
                best["wer"], best["loss"])
            if improved or not valid_set:
                best = {"wer": row.get("valid_wer", 0.0), "loss": row.get("valid_loss", row["train_loss"])}
                recognizer.save(exp_dir / BEST_FILE)
            recognizer.save(exp_dir / LAST_FILE)
            save_state()
            assert metrics is not None
            _write_row(metrics, row)
            log.info("epoch %d: %s", epoch, "  ".join(f"{k} {v:.4g}" for k, v in row.items()
                                                      if isinstance(v, float)))
    if metrics is not None:
        metrics.close()
        plot_training(exp_dir / METRICS_FILE, exp_dir)
    return TrainResult(exp_dir / BEST_FILE, history, skipped_batches, skipped)


@torch.inference_mode()
def validate(network: AcousticModel, extractor: FeatureExtractor, vocab: Vocabulary,
             examples: Sequence[Example], device: torch.device, batch_size: int = 32) -> dict[str, float]:
    """Validation loss, WER and CER with greedy decoding."""
    network.eval()
    decoder = GreedyDecoder(vocab, 1.0)
    refs, hyps, loss_sum = [], [], 0.0
    order = sorted(range(len(examples)), key=lambda i: examples[i].features.shape[0])
    for start in range(0, len(order), batch_size):
        batch = collate([examples[i] for i in order[start : start + batch_size]], extractor).to(device)
        log_probs, out_lengths = network(batch.features, batch.lengths)
        loss = ctc_loss(log_probs, out_lengths, batch.targets, batch.target_lengths)
        loss_sum += float(loss) * len(batch.ids)
        refs += batch.texts
        hyps += [t.text for t in decoder(log_probs, out_lengths)]
    result = score(refs, hyps)
    return {"valid_loss": loss_sum / len(examples), "valid_wer": result.wer, "valid_cer": result.cer}


def _resumable(config: dict[str, Any]) -> dict[str, Any]:
    """The parts of a config that must match to resume: all but where the run executes and how long it lasts
    (a finished run given more epochs goes on, its learning-rate schedule stretched to the new length)."""
    train_part = {k: v for k, v in config["train"].items() if k not in ("device", "threads", "epochs")}
    return {**config, "train": train_part}


def _metrics_of(row: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in row.items() if k.startswith("valid_") or k == "train_loss"}


def _write_row(handle: Any, row: dict[str, Any]) -> None:
    handle.write(json.dumps({"time": round(time.time(), 3), **row}) + "\n")
    handle.flush()


def _to_list(value: Any) -> Any:
    return [_to_list(v) for v in value] if isinstance(value, tuple | list) else value


def _to_tuple(value: Any) -> Any:
    return tuple(_to_tuple(v) for v in value) if isinstance(value, list | tuple) else value

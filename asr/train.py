"""Training: a plain loop over length-bucketed batches with CTC loss.

:func:`train` reads top to bottom: :func:`build_run` (data, network, optimiser, schedule, resume), then per
epoch :func:`train_epoch` (one :func:`train_step` per batch, shared with :mod:`asr.adapt`), :func:`validate`
and :func:`end_epoch` (checkpoints, metrics). What the resume state holds is :mod:`asr.train_state`'s.

Files written to the experiment folder:
  ``config.json``      the resolved configuration;
  ``model.pt``         the best model so far (lowest validation WER), a self-contained model file;
  ``last.pt``          the model after the latest epoch;
  ``train_state.pt``   everything needed to resume (written every ``save_every_steps`` and per epoch);
  ``metrics.jsonl``    one row per logged step and per epoch.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import nn
from tqdm import tqdm

from asr.checkpoint import network_weights, remove_stale_temporaries, safe_load
from asr.config import ExperimentConfig
from asr.data import BucketBatches, Example, collate, feature_statistics, load_examples
from asr.decode import GreedyDecoder
from asr.distributed import Distributed, shared_training
from asr.errors import AsrError
from asr.features import FeatureExtractor, SpecAugment
from asr.loading import packaged_model_name, packaged_model_path
from asr.manifest import Utterance
from asr.model import AcousticModel
from asr.plots import plot_training
from asr.recognizer import Recognizer
from asr.scoring import score
from asr.spec import spec_from_dict
from asr.text import BLANK_INDEX, Vocabulary, normalize_text
from asr.train_state import Progress, read_state, restore, save_state

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


@dataclass
class TrainData:
    """A run's examples, with the feature extractor (statistics set) and vocabulary that made them."""

    extractor: FeatureExtractor
    vocab: Vocabulary
    train_set: list[Example]
    valid_set: list[Example]
    skipped: list[tuple[str, str]]  # utterances of either set left out, with the reason


@dataclass
class Run:
    """A training run as :func:`build_run` makes it; :func:`train_epoch` and :func:`end_epoch` advance it."""

    config: ExperimentConfig
    exp_dir: Path
    dist: Distributed
    device: torch.device
    data: TrainData
    network: AcousticModel
    model: nn.Module  # what runs forward: ``network``, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    batches: BucketBatches
    augment: SpecAugment | None
    recognizer: Recognizer  # shares ``network``: what the model files are written from
    environment: dict[str, Any]
    progress: Progress

    def result(self) -> TrainResult:
        return TrainResult(self.exp_dir / BEST_FILE, self.progress.history, self.progress.skipped_batches,
                           self.data.skipped)


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

    Under torchrun, pass ``dist`` (:func:`asr.distributed.start_distributed`'s) on every process, as ``asr train``
    does; a call without it from a recipe run by :func:`asr.distributed.lead_from_rank_0` (rank 0 only) takes
    the other ranks along. Only rank 0 writes files.
    """
    if dist is None:
        with shared_training(config=config, train_utterances=train_utterances, valid_utterances=valid_utterances,
                             exp_dir=exp_dir, resume=resume, stop_after_steps=stop_after_steps) as shared:
            return train(config, train_utterances, valid_utterances, exp_dir, resume, shared, progress,
                         stop_after_steps)
    run = build_run(config, train_utterances, valid_utterances, Path(exp_dir), resume, dist)
    # only the main process writes files
    with open(run.exp_dir / METRICS_FILE, "a", encoding="utf-8") if run.dist.is_main else nullcontext() as metrics:
        if run.dist.is_main:
            config.write_json(run.exp_dir / "config.json")
            log.info("%d training utterances, %d validation, vocabulary %d, %d parameters, %d batches/epoch",
                     len(run.data.train_set), len(run.data.valid_set), len(run.data.vocab),
                     sum(p.numel() for p in run.network.parameters()), len(run.batches))
        while run.progress.epoch < config.train.epochs:
            row = train_epoch(run, metrics, progress, stop_after_steps)
            if row is None:  # stopped after stop_after_steps, the resume state written
                return run.result()
            if run.data.valid_set and run.dist.is_main:
                row.update(validate(run.network, run.data.extractor, run.data.vocab, run.data.valid_set,
                                    run.device))
            end_epoch(run, row, metrics)
    if run.dist.is_main:
        if config.train.average_epochs > 0:
            save_average(run)
        plot_training(run.exp_dir / METRICS_FILE, run.exp_dir)
    return run.result()


def build_run(config: ExperimentConfig, train_utterances: Sequence[Utterance],
              valid_utterances: Sequence[Utterance] | None, exp_dir: Path, resume: bool,
              dist: Distributed) -> Run:
    """Data, network, optimiser, learning-rate schedule and batches of a run, restored from ``exp_dir``'s
    resume state when ``resume`` and there is one. A finished run resumed with more epochs goes on, its
    schedule stretched to the new length."""
    exp_dir.mkdir(parents=True, exist_ok=True)
    if dist.is_main:
        remove_stale_temporaries(exp_dir)  # a run killed mid-save leaves its temporary file behind
    cfg = config.train
    device = pick_device(cfg.device)
    if dist.world_size > 1 and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)  # one GPU per process
    threads = cfg.threads or (dist.cpu_threads() if device.type == "cpu" else 0)
    if threads > 0:
        torch.set_num_threads(threads)
    seed_everything(cfg.seed)
    state = read_state(exp_dir / STATE_FILE, config) if resume else None
    start = initial_model(config) if state is None else None
    data = load_data(config, train_utterances, valid_utterances, state or start)

    seed_everything(cfg.seed)  # the same initial weights however much randomness loading the data drew
    network = AcousticModel(config.features.dim, len(data.vocab), config.model).to(device)
    model: nn.Module = network
    if dist.world_size > 1:
        model = nn.parallel.DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda"
                                                    else None)
        torch.manual_seed(cfg.seed + dist.rank)  # each rank draws its own augmentation masks and dropout
    optimizer = torch.optim.AdamW(network.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches = BucketBatches([e.features.shape[0] for e in data.train_set], cfg.max_frames_per_batch,
                            cfg.max_batch, seed=cfg.seed, rank=dist.rank, world_size=dist.world_size)
    total_steps = cfg.epochs * len(batches)  # this call's epochs: the schedule's length is never restored
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_schedule(s, cfg.warmup_steps, total_steps, cfg.final_lr_ratio))
    augment = SpecAugment(config.spec_augment) if cfg.spec_augment else None

    progress = Progress()
    if start is not None:
        network.load_state_dict(network_weights(start["state_dict"]))
        if dist.is_main:
            log.info("fine-tuning from %s", cfg.init_from)
    if state is not None:
        progress = restore(state, network, optimizer, scheduler)
        if dist.is_main:
            log.info("resumed from %s at epoch %d, batch %d", exp_dir / STATE_FILE, progress.epoch + 1,
                     progress.batch)
    recognizer = Recognizer(data.extractor, network, data.vocab)
    run_environment = environment(cfg.seed)
    recognizer.metadata = {"config": config.to_dict(), "environment": run_environment}
    return Run(config, exp_dir, dist, device, data, network, model, optimizer, scheduler, batches, augment,
               recognizer, run_environment, progress)


def initial_model(config: ExperimentConfig) -> dict[str, Any] | None:
    """The package of ``train.init_from`` (None when training from scratch), checked to fit ``config``: the
    same features and network, so its weights and statistics load as they are."""
    path = config.train.init_from
    if not path:
        return None
    if packaged_model_name(path) is not None and not Path(path).exists():
        path = str(packaged_model_path(path))  # a packaged model by name: fine-tune the shipped weights
    if not Path(path).is_file():
        raise AsrError("train.init_from: model file not found", path)
    if Path(path).suffix.lower() == ".onnx":
        from asr.onnx_import import package_from_onnx

        package = package_from_onnx(path)
    else:
        package = safe_load(path)
    spec = spec_from_dict(package, path)
    for name, saved, wanted in (("features", spec.features, dataclasses.asdict(config.features)),
                                ("model", spec.model, dataclasses.asdict(config.model))):
        if saved != wanted:
            differ = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
            raise AsrError(f"train.init_from: the model's [{name}] differs from this config's in "
                           f"{', '.join(differ)}", path)
    return {"vocabulary": spec.vocabulary, "state_dict": package["state_dict"]}


def load_data(config: ExperimentConfig, train_utterances: Sequence[Utterance],
              valid_utterances: Sequence[Utterance] | None, state: dict[str, Any] | None) -> TrainData:
    """Features and token ids of both sets. A resumed run (``state``) keeps its vocabulary and feature
    statistics; a new one takes them from the training transcripts and features."""
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
    return TrainData(extractor, vocab, train_set, valid_set, skipped)


def train_epoch(run: Run, metrics: TextIO | None, show_progress: bool,
                stop_after_steps: int | None) -> dict[str, Any] | None:
    """The rest of the current epoch's batches (a resumed run starts where it stopped), one step each.

    Returns the epoch's metrics row, or ``None`` when ``stop_after_steps`` ended the run (the resume state
    is then written). ``metrics`` (main process only) gets a row every ``log_every_steps``.
    """
    cfg, progress = run.config.train, run.progress
    run.network.train()
    order = run.batches.epoch(progress.epoch)
    bar = tqdm(order, desc=f"epoch {progress.epoch + 1}/{cfg.epochs}", unit="batch", initial=progress.batch,
               disable=None if (show_progress and run.dist.is_main) else True, leave=False, mininterval=1.0)
    total_loss, total_utts, frames_seen, started = 0.0, 0, 0, time.perf_counter()
    for indices in order[progress.batch:]:
        result = train_step(run.model, [run.data.train_set[i] for i in indices], run.data.extractor,
                            run.optimizer, cfg.grad_clip, run.augment, run.dist)
        run.scheduler.step()  # skipped batches count too: the schedule follows progress.step
        progress.step += 1
        progress.batch += 1
        if result.applied:
            total_loss += result.loss * result.utterances
            total_utts += result.utterances
        else:
            progress.skipped_batches += 1
            log.warning("skipped batch at step %d: non-finite loss or gradient", progress.step)
        frames_seen += result.frames
        bar.update(1)
        bar.set_postfix(loss=f"{total_loss / max(total_utts, 1):.3f}",
                        fps=f"{frames_seen / max(time.perf_counter() - started, 1e-9):.0f}")
        if metrics is not None and cfg.log_every_steps and progress.step % cfg.log_every_steps == 0:
            _write_row(metrics, {"step": progress.step, "epoch": progress.epoch + 1, "train_loss": result.loss,
                                 "lr": run.scheduler.get_last_lr()[0]})
        if cfg.save_every_steps and progress.step % cfg.save_every_steps == 0:
            _save_state(run)
        if stop_after_steps is not None and progress.step >= stop_after_steps:
            _save_state(run)
            bar.close()
            return None
    bar.close()
    return {"epoch": progress.epoch + 1, "step": progress.step, "train_loss": total_loss / max(total_utts, 1),
            "frames_per_second": frames_seen / max(time.perf_counter() - started, 1e-9),
            "skipped_batches": progress.skipped_batches}


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


def end_epoch(run: Run, row: dict[str, Any], metrics: TextIO | None) -> None:
    """Count the epoch done and record it in the history; on the main process, save the checkpoints
    and append ``row`` to ``metrics``."""
    progress = run.progress
    progress.epoch += 1
    progress.batch = 0
    progress.history.append(row)
    if not run.dist.is_main:
        return
    save_checkpoints(run, row)
    assert metrics is not None
    _write_row(metrics, row)
    log.info("epoch %d: %s", progress.epoch, format_row(row))


def format_row(row: dict[str, Any]) -> str:
    """An epoch's figures for the log: error rates (stored as fractions) in percent like every other report,
    the rest to 4 significant digits."""
    return "  ".join(f"{k} {100 * v:.2f}%" if k.endswith(("_wer", "_cer")) else f"{k} {v:.4g}"
                     for k, v in row.items() if isinstance(v, float))


def save_checkpoints(run: Run, row: dict[str, Any]) -> None:
    """After an epoch: ``model.pt`` when the epoch is the best yet (lowest validation WER, then loss; every
    epoch without a validation set), ``last.pt`` and the resume state."""
    progress = run.progress
    run.recognizer.metadata = {"config": run.config.to_dict(), "environment": run.environment,
                               "epoch": progress.epoch, "step": progress.step, **_metrics_of(row)}
    now, best = {"wer": row.get("valid_wer", 0.0), "loss": row.get("valid_loss", row["train_loss"])}, progress.best
    averaging = run.config.train.average_epochs > 0
    if not averaging and ((now["wer"], now["loss"]) < (best["wer"], best["loss"]) or not run.data.valid_set):
        progress.best = now
        run.recognizer.save(run.exp_dir / BEST_FILE)
    if averaging and progress.epoch > run.config.train.epochs - run.config.train.average_epochs:
        run.recognizer.save(run.exp_dir / epoch_file(progress.epoch))  # one of the epochs save_average averages
    run.recognizer.save(run.exp_dir / LAST_FILE)
    _save_state(run)


def epoch_file(epoch: int) -> str:
    """The weights after ``epoch`` (1-based), kept for :func:`save_average`."""
    return f"epoch{epoch}.pt"


def save_average(run: Run) -> None:
    """``model.pt``: the element-wise mean of the last ``average_epochs`` epochs' weights (each saved by
    :func:`save_checkpoints`, so a resumed run averages the same files), validated like an epoch."""
    from asr.checkpoint import safe_load

    cfg, last = run.config.train, run.progress.epoch
    epochs = [e for e in range(last - cfg.average_epochs + 1, last + 1) if (run.exp_dir / epoch_file(e)).is_file()]
    if not epochs:
        raise AsrError(f"no epoch weights to average in {run.exp_dir} (average_epochs = {cfg.average_epochs})")
    states = [safe_load(run.exp_dir / epoch_file(e))["state_dict"] for e in epochs]
    network = {k[len("network."):]: torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype)
               for k, v in states[0].items() if k.startswith("network.")}
    run.network.load_state_dict(network)
    row = validate(run.network, run.data.extractor, run.data.vocab, run.data.valid_set, run.device) \
        if run.data.valid_set else {}
    run.recognizer.metadata = {"config": run.config.to_dict(), "environment": run.environment, "epoch": last,
                               "step": run.progress.step, "averaged_epochs": epochs, **_metrics_of(row)}
    run.recognizer.save(run.exp_dir / BEST_FILE)
    log.info("model.pt: the mean of epochs %d-%d%s", epochs[0], epochs[-1],
             f": {format_row(row)}" if row else "")


def _save_state(run: Run) -> None:
    if run.dist.is_main:
        save_state(run.exp_dir / STATE_FILE, run.recognizer, run.optimizer, run.scheduler, run.progress)


def _metrics_of(row: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in row.items() if k.startswith("valid_") or k == "train_loss"}


def _write_row(handle: TextIO, row: dict[str, Any]) -> None:
    handle.write(json.dumps({"time": round(time.time(), 3), **row}) + "\n")
    handle.flush()

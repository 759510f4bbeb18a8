"""Unsupervised adaptation: fine-tune a trained model on its own confident transcripts of new audio.

A model trained on a few speakers meets a new voice; the new speaker's untranscribed recordings are
decoded, the most confident transcripts are kept as pseudo-labels, and the network is fine-tuned on
them (with SpecAugment and a small learning rate). A second round decodes again with the adapted model,
whose labels are better. This is self-training, the neural counterpart of the speaker-adaptive
second decoding pass of HMM toolkits; it needs no transcripts, only audio of the target speaker or
domain. The features' normalisation statistics stay as trained.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from asr.data import BucketBatches, Example, collate, load_examples
from asr.errors import AsrError
from asr.features import SpecAugment, SpecAugmentConfig
from asr.manifest import Utterance
from asr.recognizer import Recognizer
from asr.train import ctc_loss, train_step

log = logging.getLogger(__name__)


@dataclass
class AdaptConfig:
    """Settings of :func:`adapt`."""

    rounds: int = 2  # decode -> fine-tune cycles
    keep: float = 0.8  # fraction of the decoded utterances kept as pseudo-labels, most confident first
    epochs: int = 6  # fine-tuning passes over the pseudo-labelled data per round
    lr: float = 5e-4  # AdamW learning rate (constant); a tenth of a typical training peak
    weight_decay: float = 1e-2
    grad_clip: float = 5.0
    max_frames_per_batch: int = 12000
    max_batch: int = 32
    spec_augment: SpecAugmentConfig = field(
        default_factory=lambda: SpecAugmentConfig(freq_masks=2, freq_width=6, time_masks=2, time_width=8,
                                                  freq_warp=0.1))
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.epochs < 1:
            raise AsrError("rounds and epochs must be at least 1")
        if not 0.0 < self.keep <= 1.0:
            raise AsrError(f"keep must be in (0, 1], got {self.keep}")


@dataclass
class RoundReport:
    """What one round did: pseudo-labels kept out of those decoded, and the fine-tuning loss per epoch.

    ``losses`` are the training losses, under SpecAugment and dropout: their epoch-to-epoch noise (the masks
    differ every epoch) is larger than what a few epochs of fine-tuning at a small learning rate change, so
    they may seem not to move. ``loss_before`` and ``loss_after`` are the CTC loss of the same examples with
    the network in evaluation mode and no augmentation, before and after the round's fine-tuning: what the
    round really changed.
    """

    decoded: int
    kept: int
    min_confidence: float  # the lowest confidence among the kept utterances
    losses: list[float]
    loss_before: float | None = None
    loss_after: float | None = None

    def summary(self) -> str:
        """One line: what was kept, and how the loss on the pseudo-labels moved."""
        line = f"{self.kept} of {self.decoded} kept (confidence >= {self.min_confidence:.3f})"
        if self.loss_before is not None and self.loss_after is not None:
            line += f", loss on the pseudo-labels {self.loss_before:.3f} -> {self.loss_after:.3f}"
        return line + f" (training loss with SpecAugment per epoch: {' '.join(f'{x:.3f}' for x in self.losses)})"


def pseudo_label(recognizer: Recognizer, utterances: Sequence[Utterance], keep: float) -> list[Utterance]:
    """Transcribe ``utterances`` (their texts are ignored) with the recognizer's current decoder and
    return the ``keep`` fraction with the most confident transcripts, as utterances carrying them.

    An utterance's confidence is that of its least confident word; empty transcripts are never kept.
    """
    if not utterances:
        raise AsrError("no audio to adapt on")
    results = recognizer.transcribe_files([u.audio for u in utterances])
    # an unreadable file is left out (and logged), as a file with no words is: one bad file never aborts adapt
    scored = []
    for utt, (_, result) in zip(utterances, results, strict=True):
        if isinstance(result, AsrError):
            log.warning("adapt: skipped %s", result)
        elif result.words and all(w.word != "[unk]" for w in result.words):  # a grammar's rejection: no label
            scored.append((min(w.confidence for w in result.words), utt, result.text))
    scored.sort(key=lambda item: -item[0])
    chosen = scored[: max(1, round(keep * len(utterances)))] if scored else []
    return [Utterance(u.audio, text, u.duration, {**u.extra, "confidence": round(c, 4)}) for c, u, text in chosen]


def fine_tune(recognizer: Recognizer, utterances: Sequence[Utterance], config: AdaptConfig,
              progress: bool = True) -> list[float]:
    """Fine-tune ``recognizer``'s network in place on ``utterances``; returns the mean loss per epoch."""
    return fine_tune_examples(recognizer, adaptation_examples(recognizer, utterances), config, progress)


def adaptation_examples(recognizer: Recognizer, utterances: Sequence[Utterance]) -> list[Example]:
    """The features and targets of ``utterances`` (pseudo-labelled) for fine-tuning."""
    if recognizer.is_quantized:
        raise AsrError("a quantized model cannot be fine-tuned; adapt the float model")
    examples, _ = load_examples(utterances, recognizer.extractor, recognizer.vocab,
                                recognizer.network.config.subsampling, desc="adaptation features")
    if not examples:
        raise AsrError("no usable adaptation utterances")
    return examples


@torch.inference_mode()
def evaluation_loss(recognizer: Recognizer, examples: Sequence[Example], batch_size: int = 32) -> float:
    """Mean per-utterance CTC loss of ``examples``, network in evaluation mode, no augmentation."""
    network, extractor = recognizer.network, recognizer.extractor
    device = next(network.parameters()).device
    training = network.training
    network.eval()
    total = 0.0
    try:
        order = sorted(range(len(examples)), key=lambda i: examples[i].features.shape[0])
        for start in range(0, len(order), batch_size):
            batch = collate([examples[i] for i in order[start : start + batch_size]], extractor).to(device)
            log_probs, out_lengths = network(batch.features, batch.lengths)
            total += float(ctc_loss(log_probs, out_lengths, batch.targets, batch.target_lengths)) * len(batch.ids)
    finally:
        network.train(training)
    return total / max(len(examples), 1)


def fine_tune_examples(recognizer: Recognizer, examples: Sequence[Example], config: AdaptConfig,
                       progress: bool = True) -> list[float]:
    """Fine-tune ``recognizer``'s network in place on ``examples``; returns the mean training loss per epoch."""
    if recognizer.is_quantized:
        raise AsrError("a quantized model cannot be fine-tuned; adapt the float model")
    network, extractor = recognizer.network, recognizer.extractor
    torch.manual_seed(config.seed)
    batches = BucketBatches([e.features.shape[0] for e in examples], config.max_frames_per_batch, config.max_batch,
                            seed=config.seed)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    augment = SpecAugment(config.spec_augment)
    losses = []
    network.train()
    try:
        for epoch in range(config.epochs):
            total, count = 0.0, 0
            for indices in tqdm(batches.epoch(epoch + 1), desc=f"adapt epoch {epoch + 1}/{config.epochs}",
                                unit="batch", leave=False, disable=None if progress else True):
                result = train_step(network, [examples[i] for i in indices], extractor, optimizer,
                                    config.grad_clip, augment)
                if result.applied:
                    total, count = total + result.loss * result.utterances, count + result.utterances
            losses.append(total / max(count, 1))
    finally:
        network.eval()
    return losses


def adapt(
    recognizer: Recognizer,
    utterances: Sequence[Utterance],
    config: AdaptConfig | None = None,
    expand: Callable[[list[Utterance], int], list[Utterance]] | None = None,
    progress: bool = True,
) -> list[RoundReport]:
    """Adapt ``recognizer`` in place to the audio of ``utterances`` (texts ignored).

    Each round pseudo-labels the audio with the current model and decoder, then fine-tunes on the
    kept utterances plus whatever ``expand(kept, round)`` adds (a recipe may build connected strings
    from them, say). Returns one :class:`RoundReport` per round.
    """
    config = config or AdaptConfig()
    reports = []
    for round_index in range(config.rounds):
        kept = pseudo_label(recognizer, utterances, config.keep)
        if not kept:
            raise AsrError("the model transcribed none of the adaptation audio: nothing to adapt on")
        extra = expand(kept, round_index) if expand is not None else []
        examples = adaptation_examples(recognizer, kept + extra)
        before = evaluation_loss(recognizer, examples)
        losses = fine_tune_examples(recognizer, examples, config, progress)
        reports.append(RoundReport(len(utterances), len(kept), min(u.extra["confidence"] for u in kept), losses,
                                   before, evaluation_loss(recognizer, examples)))
        log.info("adaptation round %d: %s", round_index + 1, reports[-1].summary())
    return reports

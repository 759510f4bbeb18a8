"""Training data: features computed once and kept in memory, length-bucketed batches, padding.

Features are cheap to keep for the corpora this toolkit trains on a CPU (a 100-hour corpus of 80-dim
float16 log-mels is about 5 GB); computing them once removes the data loader as a bottleneck.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import pad_sequence
from tqdm import tqdm

from asr.audio import load_audio
from asr.errors import AsrError
from asr.features import FeatureExtractor, RunningStatistics
from asr.manifest import Utterance
from asr.text import Vocabulary, normalize_text

log = logging.getLogger(__name__)

#: The ``extra`` key of an utterance where nobody speaks (room tone, noise): its empty transcript is kept, not
#: skipped, and teaches the network to stay blank there (data_prep.connected.make_non_speech writes them).
NON_SPEECH = "non_speech"


@dataclass
class Example:
    """One utterance ready for training: raw features ``(frames, dim)`` and token ids ``(tokens,)``."""

    id: str
    features: torch.Tensor
    targets: torch.Tensor
    text: str


@dataclass
class Batch:
    """Padded batch. ``features (batch, frames, dim)``, ``lengths (batch,)``,
    ``targets (batch, max_tokens)`` padded with 0, ``target_lengths (batch,)``."""

    features: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    target_lengths: torch.Tensor
    texts: list[str]
    ids: list[str]

    def to(self, device: torch.device) -> Batch:
        return Batch(
            self.features.to(device),
            self.lengths.to(device),
            self.targets.to(device),
            self.target_lengths.to(device),
            self.texts,
            self.ids,
        )


def ctc_min_frames(targets: Sequence[int]) -> int:
    """Fewest output frames CTC needs: one per token plus a blank between each repeated pair."""
    repeats = sum(1 for a, b in zip(targets, targets[1:], strict=False) if a == b)
    return len(targets) + repeats


def load_examples(
    utterances: Sequence[Utterance],
    extractor: FeatureExtractor,
    vocab: Vocabulary,
    subsampling: int,
    desc: str = "features",
) -> tuple[list[Example], list[tuple[str, str]]]:
    """Compute raw features for every utterance and encode its transcript.

    Returns the examples and a list of ``(utterance id, reason)`` for the ones skipped: unreadable
    audio, characters outside the vocabulary, or a transcript too long for its number of frames.
    """
    examples, skipped = [], []
    sample_rate = extractor.config.sample_rate
    with torch.inference_mode():
        for utt in tqdm(utterances, desc=desc, unit="utt", leave=False, mininterval=1.0, disable=None):
            text = normalize_text(utt.text)
            try:
                targets = vocab.encode(text)
                features = extractor.one(load_audio(utt.audio, sample_rate), normalised=False)
            except AsrError as error:
                skipped.append((utt.id, str(error)))
                continue
            if not targets and not utt.extra.get(NON_SPEECH):
                skipped.append((utt.id, "empty transcript"))
                continue
            out_frames = -(-features.shape[0] // subsampling)
            if ctc_min_frames(targets) > out_frames:
                skipped.append((utt.id, f"transcript needs more frames than the {out_frames} the audio gives"))
                continue
            examples.append(Example(utt.id, features.clone(), torch.tensor(targets, dtype=torch.long), text))
    for utt_id, reason in skipped:
        log.warning("skipped %s: %s", utt_id, reason)
    return examples, skipped


def feature_statistics(examples: Sequence[Example], extractor: FeatureExtractor) -> tuple[torch.Tensor, torch.Tensor]:
    """Global per-dimension mean and standard deviation of (centred) raw features, each ``(dim,)``."""
    dim = extractor.config.dim
    stats = RunningStatistics(dim)
    for example in examples:
        features = example.features.float().unsqueeze(0)
        stats.add(extractor.centre(features, torch.tensor([features.shape[1]]))[0])
    return stats.result()


def collate(examples: Sequence[Example], extractor: FeatureExtractor) -> Batch:
    """Normalise and zero-pad a list of examples into a :class:`Batch`."""
    lengths = torch.tensor([e.features.shape[0] for e in examples])
    target_lengths = torch.tensor([e.targets.numel() for e in examples])
    raw = pad_sequence([e.features.float() for e in examples], batch_first=True)
    targets = pad_sequence([e.targets for e in examples], batch_first=True)
    with torch.no_grad():
        features = extractor.normalise(raw, lengths)
    return Batch(features, lengths, targets, target_lengths, [e.text for e in examples], [e.id for e in examples])


class BucketBatches:
    """Batches of similar length, at most ``max_frames`` padded frames and ``max_batch`` utterances each.

    The batches are fixed once (sorted by length); each epoch shuffles their order with ``seed + epoch``,
    except epoch 0, which goes shortest first (SortaGrad) to steady early CTC training.
    With ``world_size > 1`` each rank takes every ``world_size``-th batch of the same order.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        max_frames: int,
        max_batch: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        self.batches: list[list[int]] = []
        current: list[int] = []
        for index in order:
            longest = lengths[index]  # ascending order: the newest is the longest
            if current and (len(current) + 1 > max_batch or (len(current) + 1) * longest > max_frames):
                self.batches.append(current)
                current = []
            current.append(index)
        if current:
            self.batches.append(current)
        if world_size > 1:
            # every rank must run the same number of steps, or the gradient all-reduce waits forever
            usable = len(self.batches) - len(self.batches) % world_size
            if usable == 0:
                raise AsrError(f"too few batches ({len(self.batches)}) for {world_size} processes")
            self.batches = self.batches[:usable]
        self.seed, self.rank, self.world_size = seed, rank, world_size

    def epoch(self, epoch: int) -> list[list[int]]:
        order = list(range(len(self.batches)))
        if epoch > 0:
            random.Random(self.seed + epoch).shuffle(order)
        return [self.batches[i] for i in order[self.rank :: self.world_size]]

    def __len__(self) -> int:
        return len(self.batches) // self.world_size

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.epoch(0))

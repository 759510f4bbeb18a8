"""Acoustic features: log-mel filterbanks or MFCCs, global mean/variance normalisation, SpecAugment.

The transforms are torchaudio's; this module only fixes their settings from a :class:`FeatureConfig`
and keeps derived tensors (filterbank, normalisation statistics) as buffers so that a saved model
carries them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torchaudio.transforms as T
from torch import nn

from asr.errors import AsrError

#: Added before the logarithm so that digital silence gives a finite value.
LOG_FLOOR = 1e-6


@dataclass
class FeatureConfig:
    """How audio becomes frames. Stored in every model file."""

    kind: Literal["fbank", "mfcc"] = "fbank"  # log-mel filterbank or MFCC
    sample_rate: int = 16000  # audio is resampled to this rate before the features
    n_mels: int = 80  # mel bands (for MFCC: bands before the DCT)
    n_mfcc: int = 13  # cepstra kept when kind == "mfcc"
    win_ms: float = 25.0  # analysis window
    hop_ms: float = 10.0  # frame shift
    f_min: float = 20.0  # lowest filterbank edge in Hz
    f_max: float | None = None  # highest edge; None means the Nyquist frequency
    utterance_cmn: bool = False  # subtract each utterance's own mean first (removes channel/microphone colour)

    def __post_init__(self) -> None:
        if self.kind not in ("fbank", "mfcc"):
            raise AsrError(f"feature kind must be 'fbank' or 'mfcc', got {self.kind!r}")
        if self.sample_rate <= 0 or self.n_mels <= 0 or self.win_ms <= 0 or self.hop_ms <= 0:
            raise AsrError("sample_rate, n_mels, win_ms and hop_ms must be positive")
        if self.kind == "mfcc" and not 0 < self.n_mfcc <= self.n_mels:
            raise AsrError(f"n_mfcc must be in 1..n_mels ({self.n_mels}), got {self.n_mfcc}")

    @property
    def dim(self) -> int:
        """Feature dimension per frame."""
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    @property
    def hop_length(self) -> int:
        return round(self.sample_rate * self.hop_ms / 1000)

    @property
    def win_length(self) -> int:
        return round(self.sample_rate * self.win_ms / 1000)

    @property
    def frame_seconds(self) -> float:
        return self.hop_length / self.sample_rate


class FeatureExtractor(nn.Module):
    """Waveform to normalised feature frames.

    ``(samples,)`` or ``(batch, samples)`` -> ``(frames, dim)`` or ``(batch, frames, dim)``.
    Normalisation uses the buffers ``mean`` and ``std`` (identity until :meth:`set_statistics`).
    """

    def __init__(self, config: FeatureConfig) -> None:
        super().__init__()
        self.config = config
        n_fft = 1 << (config.win_length - 1).bit_length()
        mel_kwargs = dict(
            n_fft=n_fft,
            win_length=config.win_length,
            hop_length=config.hop_length,
            f_min=config.f_min,
            f_max=config.f_max,
            n_mels=config.n_mels,
            center=True,
            power=2.0,
        )
        if config.kind == "mfcc":
            self.transform: nn.Module = T.MFCC(
                sample_rate=config.sample_rate, n_mfcc=config.n_mfcc, log_mels=True, melkwargs=mel_kwargs
            )
        else:
            self.transform = T.MelSpectrogram(sample_rate=config.sample_rate, **mel_kwargs)
        self.register_buffer("mean", torch.zeros(config.dim))
        self.register_buffer("std", torch.ones(config.dim))

    def raw(self, waveform: torch.Tensor) -> torch.Tensor:
        """Un-normalised features: ``(..., samples) -> (..., frames, dim)``."""
        features = self.transform(waveform)
        if self.config.kind == "fbank":
            features = torch.log(features + LOG_FLOOR)
        return features.transpose(-1, -2)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.normalise(self.raw(waveform))

    def normalise(self, features: torch.Tensor) -> torch.Tensor:
        """``(frames, dim)`` raw features -> zero mean and unit variance per dimension."""
        return (self.centre(features) - self.mean) / self.std

    def centre(self, features: torch.Tensor) -> torch.Tensor:
        """Per-utterance mean subtraction when ``utterance_cmn`` is set; the global statistics are
        computed on this output. ``(frames, dim)`` -> same shape (one utterance, no padding)."""
        if self.config.utterance_cmn:
            return features - features.mean(dim=-2, keepdim=True)
        return features

    def num_frames(self, num_samples: int | torch.Tensor) -> int | torch.Tensor:
        """Frames produced for a waveform of ``num_samples`` (centred STFT)."""
        return num_samples // self.config.hop_length + 1

    @torch.no_grad()
    def set_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store global normalisation statistics, each of shape ``(dim,)``."""
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(1e-5))


class RunningStatistics:
    """Accumulates per-dimension mean and standard deviation over many ``(frames, dim)`` tensors."""

    def __init__(self, dim: int) -> None:
        self.count = 0
        self.total = torch.zeros(dim, dtype=torch.float64)
        self.total_sq = torch.zeros(dim, dtype=torch.float64)

    def add(self, features: torch.Tensor) -> None:
        frames = features.reshape(-1, features.shape[-1]).double()
        self.count += frames.shape[0]
        self.total += frames.sum(0)
        self.total_sq += (frames**2).sum(0)

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.count == 0:
            raise AsrError("no frames to compute feature statistics from")
        mean = self.total / self.count
        var = (self.total_sq / self.count - mean**2).clamp_min(0.0)
        return mean.float(), var.sqrt().float()


@dataclass
class SpecAugmentConfig:
    """SpecAugment (Park et al., 2019) settings; applied only in training."""

    freq_masks: int = 2  # number of frequency masks
    freq_width: int = 10  # widest frequency mask, in bins
    time_masks: int = 2  # number of time masks
    time_width: int = 20  # widest time mask, in frames
    time_ratio: float = 0.2  # a time mask covers at most this fraction of the utterance
    freq_warp: float = 0.0  # stretch the frequency axis by a random factor in [1 - w, 1 + w] (VTLP-like)


class SpecAugment(nn.Module):
    """Masks random frequency bands and time spans of normalised features (torchaudio's masking).

    ``(batch, frames, dim)`` -> same shape. Masked values are set to 0, the normalised mean, and each
    utterance in the batch gets masks of its own.
    """

    def __init__(self, config: SpecAugmentConfig) -> None:
        super().__init__()
        self.config = config
        self.freq_mask = T.FrequencyMasking(config.freq_width, iid_masks=True)
        self.time_mask = T.TimeMasking(config.time_width, iid_masks=True, p=config.time_ratio)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.config.freq_warp > 0:
            features = warp_frequency(features, self.config.freq_warp)
        spec = features.transpose(1, 2).unsqueeze(1)  # (batch, 1, dim, frames), torchaudio's layout
        for _ in range(self.config.freq_masks):
            spec = self.freq_mask(spec)
        for _ in range(self.config.time_masks):
            spec = self.time_mask(spec)
        return spec.squeeze(1).transpose(1, 2)


def warp_frequency(features: torch.Tensor, max_warp: float) -> torch.Tensor:
    """Stretch or squeeze the feature axis of each utterance by its own random factor.

    ``(batch, frames, dim)`` -> same shape. A factor ``a`` reads bin ``f * a`` (linear interpolation),
    which mimics a longer or shorter vocal tract: vocal tract length perturbation on features.
    """
    batch, _, dim = features.shape
    factors = 1.0 + (torch.rand(batch, 1) * 2 - 1) * max_warp
    position = (torch.arange(dim).float().unsqueeze(0) * factors).clamp(max=dim - 1)  # (batch, dim)
    low = position.floor().long()
    high = (low + 1).clamp(max=dim - 1)
    weight = (position - low.float()).unsqueeze(1).to(features.dtype)  # (batch, 1, dim)
    gather = lambda index: features.gather(2, index.unsqueeze(1).expand(-1, features.shape[1], -1))  # noqa: E731
    return gather(low) * (1 - weight) + gather(high) * weight

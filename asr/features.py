"""Acoustic features: log-mel filterbanks or MFCCs, global mean/variance normalisation, SpecAugment.

One :class:`FeatureExtractor` serves training, inference and the ONNX graph: padded batches in, features
that ignore the padding out. Its constants (window, mel filterbank, DCT) are torchaudio's; the model file
stores only the normalisation statistics and the :class:`FeatureConfig` they are rebuilt from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torchaudio.functional as AF
import torchaudio.transforms as T
from torch import nn

from asr.errors import AsrError

#: Added before the logarithm so that digital silence gives a finite value.
LOG_FLOOR = 1e-6
#: ``cmn_frames = "speech"``: the utterance mean is taken over the frames within this many dB of its loudest.
SPEECH_FRAMES_DB = 30.0


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
    # the frames that mean is taken over: "all", or "speech" (within SPEECH_FRAMES_DB of the loudest frame), so
    # that the silence or room tone around the words, however long, does not shift the features of the words
    cmn_frames: Literal["all", "speech"] = "all"

    def __post_init__(self) -> None:
        if self.kind not in ("fbank", "mfcc"):
            raise AsrError(f"feature kind must be 'fbank' or 'mfcc', got {self.kind!r}")
        if self.sample_rate <= 0 or self.n_mels <= 0 or self.win_ms <= 0 or self.hop_ms <= 0:
            raise AsrError("sample_rate, n_mels, win_ms and hop_ms must be positive")
        if self.kind == "mfcc" and not 0 < self.n_mfcc <= self.n_mels:
            raise AsrError(f"n_mfcc must be in 1..n_mels ({self.n_mels}), got {self.n_mfcc}")
        if self.cmn_frames not in ("all", "speech"):
            raise AsrError(f"cmn_frames must be 'all' or 'speech', got {self.cmn_frames!r}")

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
    """Padded waveforms to normalised feature frames: the one front end of training, inference and ONNX.

    ``forward(waveforms (batch, samples), lengths (batch,)) -> (features (batch, frames, dim), frames (batch,))``.
    Row ``i`` holds ``lengths[i]`` samples followed by any padding; its features are those of the
    unpadded waveform alone (the STFT's centring reflects each row at its own end) and are zero after
    ``frames[i]``. Normalisation uses the buffers ``mean`` and ``std`` (identity until
    :meth:`set_statistics`). Only basic operations are used (the STFT is a strided convolution with the
    windowed DFT basis, as ONNX has no complex numbers), so the module exports to ONNX as it is; its
    constants are torchaudio's (window, mel filterbank, DCT), and a test checks its output against
    torchaudio's ``MelSpectrogram`` and ``MFCC``.
    """

    def __init__(self, config: FeatureConfig) -> None:
        super().__init__()
        self.config = config
        self.n_fft = 1 << (config.win_length - 1).bit_length()
        self.hop = config.hop_length
        self.pad = self.n_fft // 2  # the centring of torch.stft(center=True)
        window = torch.hann_window(config.win_length, dtype=torch.float64)
        left = (self.n_fft - config.win_length) // 2  # torch.stft centres a shorter window in the FFT frame
        window = nn.functional.pad(window, (left, self.n_fft - config.win_length - left))
        time = torch.arange(self.n_fft, dtype=torch.float64)
        freq = torch.arange(self.n_fft // 2 + 1, dtype=torch.float64)
        angle = 2 * math.pi * freq.unsqueeze(1) * time.unsqueeze(0) / self.n_fft  # (freqs, n_fft)
        basis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window
        # Derived constants are not saved: a model file holds only the statistics (and its FeatureConfig).
        self.register_buffer("basis", basis.float().unsqueeze(1), persistent=False)  # (2 * freqs, 1, n_fft)
        filterbank = AF.melscale_fbanks(self.n_fft // 2 + 1, config.f_min, config.f_max or config.sample_rate / 2,
                                        config.n_mels, config.sample_rate)
        self.register_buffer("filterbank", filterbank, persistent=False)  # (freqs, n_mels)
        dct = AF.create_dct(config.n_mfcc, config.n_mels, "ortho") if config.kind == "mfcc" else torch.empty(0)
        self.register_buffer("dct", dct, persistent=False)  # (n_mels, n_mfcc)
        self.register_buffer("mean", torch.zeros(config.dim))
        self.register_buffer("std", torch.ones(config.dim))

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features, frames = self.raw(waveforms, lengths)
        return self.normalise(features, frames), frames

    def raw(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Un-normalised log-mel or MFCC features ``(batch, frames, dim)``, zero after each row's frames,
        and the frame counts ``(batch,)``."""
        frames = self.num_frames(lengths)
        spectrum = nn.functional.conv1d(self.centred(waveforms, lengths).unsqueeze(1), self.basis, stride=self.hop)
        real, imag = spectrum.chunk(2, dim=1)  # (batch, freqs, frames) each
        power = (real * real + imag * imag).transpose(1, 2)  # (batch, frames, freqs)
        features = torch.log(power @ self.filterbank + LOG_FLOOR)
        if self.config.kind == "mfcc":
            features = features @ self.dct
        return features * self.valid(features, frames), frames

    def centred(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Each row reflect-padded by ``pad`` samples at both ends of its own length (torch.stft's
        ``center=True``), as one gather so that it exports: ``(batch, samples) -> (batch, samples + 2 * pad)``."""
        last = (lengths.long() - 1).clamp(min=0).unsqueeze(1)  # (batch, 1): each row's last sample
        position = (torch.arange(waveforms.shape[1] + 2 * self.pad) - self.pad).unsqueeze(0).abs()
        position = torch.where(position > last, 2 * last - position, position)  # reflect at the row's end
        position = torch.minimum(position.clamp(min=0), last)  # rows shorter than pad: stay inside
        return waveforms.gather(1, position)

    def normalise(self, features: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Raw ``(batch, frames, dim)`` features -> zero mean and unit variance per dimension, zero padding."""
        return (self.centre(features, frames) - self.mean) / self.std * self.valid(features, frames)

    def centre(self, features: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Per-utterance mean subtraction over each row's own frames when ``utterance_cmn`` is set (the
        global statistics are computed on this output): ``(batch, frames, dim)`` -> same shape."""
        if not self.config.utterance_cmn:
            return features
        valid = self.valid(features, frames)
        if self.config.cmn_frames == "speech":
            valid = valid * self.speech_frames(features, valid)
        return features - (features * valid).sum(1, keepdim=True) / valid.sum(1, keepdim=True).clamp(min=1)

    def speech_frames(self, features: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``(batch, frames, 1)`` mask of the frames within :data:`SPEECH_FRAMES_DB` of each row's loudest valid
        frame, by the frame's power summed over the mel bands (for MFCC, over the log-mel spectrum its cepstra
        keep)."""
        log_mels = features @ self.dct.T if self.config.kind == "mfcc" else features
        level = torch.logsumexp(log_mels, -1, keepdim=True)  # (batch, frames, 1): natural log of the power
        loudest = torch.where(valid > 0, level, torch.full_like(level, -1e9)).amax(1, keepdim=True)
        return (level > loudest - SPEECH_FRAMES_DB * math.log(10.0) / 10.0).to(features.dtype)

    @staticmethod
    def valid(features: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """``(batch, frames, 1)`` mask: 1 on each row's frames, 0 on its padding."""
        return (torch.arange(features.shape[1]).unsqueeze(0) < frames.unsqueeze(1)).unsqueeze(2).to(features.dtype)

    def num_frames(self, num_samples: torch.Tensor) -> torch.Tensor:
        """Frames produced for waveforms of ``num_samples`` (centred STFT)."""
        return torch.div(num_samples, self.hop, rounding_mode="floor") + 1

    def one(self, waveform: torch.Tensor, normalised: bool = True) -> torch.Tensor:
        """One unpadded ``(samples,)`` waveform -> its ``(frames, dim)`` features."""
        lengths = torch.tensor([waveform.shape[-1]])
        features, _ = (self if normalised else self.raw)(waveform.reshape(1, -1), lengths)
        return features[0]

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

"""Waveform augmentation: speed, gain and additive noise (all on mono ``(samples,)`` tensors)."""

from __future__ import annotations

import torch
import torchaudio.functional as AF

from asr.audio import resample


def speed_perturb(waveform: torch.Tensor, factor: float, sample_rate: int) -> torch.Tensor:
    """Play ``factor`` times faster (tempo and pitch together, as Kaldi's speed perturbation).

    Implemented as resampling to ``sample_rate / factor`` and reading the result at ``sample_rate``.
    """
    if abs(factor - 1.0) < 1e-3:
        return waveform
    return resample(waveform, sample_rate, int(round(sample_rate / factor)))


def apply_gain(waveform: torch.Tensor, gain_db: float) -> torch.Tensor:
    return waveform * (10.0 ** (gain_db / 20.0))


def add_noise(waveform: torch.Tensor, snr_db: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Add white Gaussian noise at ``snr_db`` relative to the waveform's mean power."""
    noise = torch.randn(waveform.shape, generator=generator)
    return AF.add_noise(waveform.unsqueeze(0), noise.unsqueeze(0), torch.tensor([snr_db])).squeeze(0)


def normalise_peak(waveform: torch.Tensor, peak: float = 0.9) -> torch.Tensor:
    """Scale so the largest absolute sample is ``peak`` (no-op for silence)."""
    top = waveform.abs().max()
    return waveform if top == 0 else waveform * (peak / top)

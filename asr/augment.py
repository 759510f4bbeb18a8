"""Waveform augmentation on mono ``(samples,)`` tensors: speed, gain, additive noise, and simulated
channels (room reverberation, band limits, microphone colour, noise, telephone coding, clipping)."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class ChannelConfig:
    """Random microphone, room and line effects (:func:`simulate_channel`); each applied with its probability.

    Studio and desk-microphone recordings teach a model one channel; these effects imitate the ones it
    will meet (phones, laptops, rooms, noise), so that accuracy carries over to recordings it never heard.
    """

    reverb: float = 0.5  # probability of a synthetic room (exponentially decaying noise as impulse response)
    rt60: tuple[float, float] = (0.15, 0.8)  # reverberation time range, seconds
    band_limit: float = 0.5  # probability of a random high-pass and low-pass (telephone-like at the extreme)
    highpass_hz: tuple[float, float] = (60.0, 400.0)
    lowpass_hz: tuple[float, float] = (2400.0, 3800.0)  # drawn below the Nyquist frequency
    equalize: float = 0.5  # probability of 1-3 random peaking-EQ bands (microphone colour)
    eq_gain_db: float = 10.0  # EQ band gains in [-g, g]
    noise: float = 0.6  # probability of additive white/pink/brown noise
    snr_db: tuple[float, float] = (5.0, 30.0)
    mu_law: float = 0.15  # probability of 8-bit G.711 mu-law coding (telephone lines)
    clip: float = 0.05  # probability of clipping at 30-80% of the peak

    def __post_init__(self) -> None:
        probabilities = (self.reverb, self.band_limit, self.equalize, self.noise, self.mu_law, self.clip)
        if not all(0.0 <= p <= 1.0 for p in probabilities):
            raise ValueError("channel effect probabilities must lie in [0, 1]")

    @classmethod
    def off(cls) -> ChannelConfig:
        return cls(reverb=0.0, band_limit=0.0, equalize=0.0, noise=0.0, mu_law=0.0, clip=0.0)


def room_impulse_response(sample_rate: int, rt60: float, generator: torch.Generator) -> torch.Tensor:
    """A synthetic impulse response ``(samples,)``: a direct path, then Gaussian noise decaying by 60 dB in
    ``rt60`` seconds (the statistical model of late reverberation), normalised to unit energy."""
    length = max(2, int(rt60 * sample_rate))
    t = torch.arange(length) / sample_rate
    tail = torch.randn(length, generator=generator) * torch.exp(-6.9078 * t / rt60)  # ln(1000) = 6.9078
    tail[0] = 0.0
    direct = torch.zeros(length)
    direct[0] = 1.0
    mix = float(torch.empty(1).uniform_(0.3, 1.5, generator=generator))  # reverberant-to-direct balance
    response = direct + mix * tail / tail.norm().clamp_min(1e-8)
    return response / response.norm()


def coloured_noise(samples: int, exponent: float, generator: torch.Generator) -> torch.Tensor:
    """Noise whose power falls as ``1 / f**exponent`` (0 white, 1 pink, 2 brown), ``(samples,)``."""
    spectrum = torch.fft.rfft(torch.randn(samples, generator=generator))
    frequencies = torch.arange(spectrum.numel()).clamp_min(1).float()
    return torch.fft.irfft(spectrum / frequencies ** (exponent / 2), n=samples)


def simulate_channel(waveform: torch.Tensor, sample_rate: int, config: ChannelConfig,
                     generator: torch.Generator) -> torch.Tensor:
    """Pass ``(samples,)`` through a random room, microphone and line; returns ``(samples,)`` at the same
    peak level. Draws come only from ``generator``, so a seed gives the same channel again."""

    def chance(p: float) -> bool:
        return p > 0 and float(torch.rand(1, generator=generator)) < p

    def uniform(low: float, high: float) -> float:
        return float(torch.empty(1).uniform_(low, high, generator=generator))

    peak = waveform.abs().max()
    if peak == 0 or waveform.numel() < 2:
        return waveform
    out = waveform
    if chance(config.reverb):
        response = room_impulse_response(sample_rate, uniform(*config.rt60), generator)
        out = AF.fftconvolve(out, response)[: out.numel()]
    if chance(config.equalize):
        for _ in range(int(torch.randint(1, 4, (1,), generator=generator))):
            centre = uniform(150.0, 0.45 * sample_rate)
            out = AF.equalizer_biquad(out, sample_rate, centre, uniform(-config.eq_gain_db, config.eq_gain_db),
                                      Q=uniform(0.5, 2.0))
    if chance(config.band_limit):
        out = AF.highpass_biquad(out, sample_rate, uniform(*config.highpass_hz))
        cutoff = min(uniform(*config.lowpass_hz), 0.475 * sample_rate)
        out = AF.lowpass_biquad(AF.lowpass_biquad(out, sample_rate, cutoff), sample_rate, cutoff)
    if chance(config.noise):
        noise = coloured_noise(out.numel(), float(torch.randint(0, 3, (1,), generator=generator)), generator)
        out = AF.add_noise(out.unsqueeze(0), noise.unsqueeze(0), torch.tensor([uniform(*config.snr_db)])).squeeze(0)
    if chance(config.clip):
        limit = out.abs().max() * uniform(0.3, 0.8)
        out = out.clamp(-limit, limit)
    out = normalise_peak(out, float(peak))
    if chance(config.mu_law):
        out = AF.mu_law_decoding(AF.mu_law_encoding(out.clamp(-1, 1), 256), 256)
    return out

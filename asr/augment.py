"""Waveform augmentation on mono ``(samples,)`` tensors: speed, gain, additive noise, and simulated
channels (room reverberation, band limits, microphone colour, noise, telephone coding, clipping), with real
acoustics beside them: measured impulse responses of rooms and loudspeakers, and recorded background noise
(:class:`RealAcoustics`)."""

from __future__ import annotations

import csv
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torchaudio.functional as AF

from asr.audio import load_audio, resample
from asr.errors import AsrError


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
    # probability of passing through 8 kHz (resampled down and back up): what a 16 kHz model hears of a
    # telephone or 8 kHz recording, nothing above 4 kHz
    narrowband: float = 0.0
    # measured rooms and devices and recorded noise, each drawn in place of its simulated counterpart with
    # the probabilities it holds; None: simulated channels only
    real: RealAcoustics | None = None

    def __post_init__(self) -> None:
        probabilities = (self.reverb, self.band_limit, self.equalize, self.noise, self.mu_law, self.clip,
                         self.narrowband)
        if not all(0.0 <= p <= 1.0 for p in probabilities):
            raise ValueError("channel effect probabilities must lie in [0, 1]")

    @classmethod
    def off(cls) -> ChannelConfig:
        return cls(reverb=0.0, band_limit=0.0, equalize=0.0, noise=0.0, mu_law=0.0, clip=0.0)


#: Where the direct path starts in a measured impulse response: its first sample within this many dB of the peak.
DIRECT_PATH_DB = -20.0


def align_response(response: torch.Tensor, threshold_db: float = DIRECT_PATH_DB) -> torch.Tensor:
    """A measured impulse response ``(samples,)`` cut to start at its direct path and scaled to unit energy.

    The direct path is the first sample within ``threshold_db`` of the peak, not the peak itself: in halls
    and stairwells a later reflection can be the strongest arrival, and cutting there would move the direct
    sound before the start of the speech. What precedes it (the propagation delay, the recording's leading
    silence) would only delay the speech against its transcript.
    """
    if response.dim() != 1 or response.numel() == 0:
        raise ValueError(f"an impulse response is (samples,) and not empty, got shape {tuple(response.shape)}")
    magnitude = response.abs()
    peak = magnitude.max()
    if peak == 0:
        raise ValueError("an impulse response of zeros only")
    start = int(torch.nonzero(magnitude >= peak * 10.0 ** (threshold_db / 20.0))[0])
    aligned = response[start:]
    return aligned / aligned.norm()


def reverberate(waveform: torch.Tensor, response: torch.Tensor) -> torch.Tensor:
    """Convolve ``(samples,)`` with an aligned impulse response (:func:`align_response`); returns
    ``(samples,)``, the same length (the tail that rings on after the end is dropped) at the same peak level.
    A response of a single 1 gives the waveform back."""
    peak = waveform.abs().max() if waveform.numel() else 0
    if peak == 0:
        return waveform
    out = torch.from_numpy(fft_convolve(waveform.detach().cpu().numpy(), response.detach().cpu().numpy(),
                                        waveform.numel())).to(waveform.dtype)
    return normalise_peak(out, float(peak))


def fft_convolve(signal: np.ndarray, kernel: np.ndarray, samples: int) -> np.ndarray:
    """The first ``samples`` of the linear convolution of two 1-D arrays, through a power-of-two FFT in NumPy
    (torch's FFT of the awkward sizes that speech lengths give is several times slower, and with more than one
    thread on a busy CPU slower still)."""
    size = 1 << (signal.size + kernel.size - 2).bit_length()
    product = np.fft.rfft(signal.astype(np.float64), size) * np.fft.rfft(kernel.astype(np.float64), size)
    return np.fft.irfft(product, size)[:samples].astype(np.float32)


def mix_noise(waveform: torch.Tensor, noise: torch.Tensor, snr_db: float, generator: torch.Generator) -> torch.Tensor:
    """Add an excerpt of a recorded ``noise (noise_samples,)``, starting at a drawn offset (repeated when the
    recording is shorter), at ``snr_db`` dB below the waveform's mean power; returns ``(samples,)``."""
    samples = waveform.numel()
    if samples == 0 or noise.numel() == 0:
        return waveform
    repeats = -(-samples // noise.numel()) + 1
    looped = noise.repeat(repeats) if repeats > 1 else noise
    start = int(torch.randint(0, max(1, looped.numel() - samples + 1), (1,), generator=generator))
    excerpt = looped[start : start + samples].to(waveform.dtype)
    if excerpt.pow(2).mean() == 0 or waveform.pow(2).mean() == 0:
        return waveform
    return AF.add_noise(waveform.unsqueeze(0), excerpt.unsqueeze(0), torch.tensor([snr_db])).squeeze(0)


@dataclass(eq=False)
class RealAcoustics:
    """Measured impulse responses and recorded background noise, loaded once (:meth:`load`), and how often
    :func:`simulate_channel` uses them (``ChannelConfig(real=...)``).

    A measured room is drawn in place of the synthetic one, and a recorded noise in place of the synthetic
    noise; a loudspeaker's response (laptop, phone, car speakers) follows the room with its own probability.
    """

    sample_rate: int  # of the responses and noises held, which must be the waveforms' rate
    rooms: list[torch.Tensor] = field(repr=False)  # aligned responses (samples,): rooms, halls, cars, outdoors
    devices: list[torch.Tensor] = field(repr=False)  # aligned responses (samples,) of loudspeakers
    noises: list[torch.Tensor] = field(repr=False)  # background recordings (samples,)
    room: float = 0.5  # probability of a measured room
    device: float = 0.15  # probability of a loudspeaker's response
    noise: float = 0.4  # probability of a recorded noise
    snr_db: tuple[float, float] = (5.0, 25.0)  # its signal-to-noise ratio, drawn uniformly

    def __post_init__(self) -> None:
        if not all(0.0 <= p <= 1.0 for p in (self.room, self.device, self.noise)):
            raise ValueError("real-acoustics probabilities must lie in [0, 1]")
        for name, items, probability in (("room", self.rooms, self.room), ("device", self.devices, self.device),
                                         ("noise", self.noises, self.noise)):
            if probability > 0 and not items:
                raise ValueError(f"{name} probability {probability} but no {name} recordings are held")

    def __repr__(self) -> str:
        return (f"RealAcoustics({len(self.rooms)} rooms, {len(self.devices)} devices, {len(self.noises)} noises "
                f"at {self.sample_rate} Hz; room={self.room}, device={self.device}, noise={self.noise}, "
                f"snr_db={self.snr_db})")

    def held_out(self, every: int) -> tuple[RealAcoustics, RealAcoustics]:
        """``(kept, held)``: every ``every``-th room and loudspeaker response (in the order held, from the first)
        moves to ``held``, for a test in acoustics that no training heard; the noises and the probabilities stay
        with ``kept`` (0 where none of its responses is left there), and ``held`` has rooms always and nothing
        else (``room=1``, ``device=0``, ``noise=0``)."""
        if every < 2:
            raise ValueError(f"every must be at least 2 (1 would hold out everything), got {every}")
        if not self.rooms:
            raise ValueError("no rooms to hold out")
        rooms = [r for i, r in enumerate(self.rooms) if i % every]
        devices = [d for i, d in enumerate(self.devices) if i % every]
        kept = dataclasses.replace(self, rooms=rooms, devices=devices, room=self.room if rooms else 0.0,
                                   device=self.device if devices else 0.0)
        held = RealAcoustics(self.sample_rate, self.rooms[::every], self.devices[::every], [], room=1.0, device=0.0,
                             noise=0.0)
        return kept, held

    @classmethod
    def load(cls, folder: str | os.PathLike[str], sample_rate: int,
             **settings: float | tuple[float, float]) -> RealAcoustics:
        """Read ``folder`` laid out as ``../shared/data/rirs_noise``: ``rirs/*.flac`` (impulse responses),
        ``noise/*.flac`` (recordings), and ``index.tsv`` (columns ``path`` and ``kind``: ``room``, ``device``
        or ``noise``, other kinds are left out; without it every response is a room). Everything is resampled to
        ``sample_rate``; ``settings`` set the other fields (``room=0.6``, ``snr_db=(0.0, 20.0)``, ...).

        Raises:
            AsrError: the folder is missing or holds no response and no noise.
        """
        root = Path(folder)
        if not root.is_dir():
            raise AsrError("real-acoustics folder not found; expected rirs/*.flac, noise/*.flac, index.tsv", root)
        kinds: dict[str, str] = {}
        if (root / "index.tsv").is_file():
            with open(root / "index.tsv", encoding="utf-8", newline="") as handle:
                kinds = {row["path"]: row["kind"] for row in csv.DictReader(handle, delimiter="\t")}
        found = {"room": [], "device": [], "noise": []}
        for path in sorted((root / "rirs").glob("*.flac")) + sorted((root / "noise").glob("*.flac")):
            relative = path.relative_to(root).as_posix()
            kind = kinds.get(relative, "noise" if path.parent.name == "noise" else "room")
            audio = load_audio(path, sample_rate)
            found.setdefault(kind, []).append(audio if kind == "noise" else align_response(audio))
        if not any(found.values()):
            raise AsrError("no impulse responses (rirs/*.flac) and no noises (noise/*.flac) here", root)
        return cls(sample_rate, found["room"], found["device"], found["noise"], **settings)  # type: ignore[arg-type]


def narrowband(waveform: torch.Tensor, sample_rate: int, low_rate: int = 8000) -> torch.Tensor:
    """``(samples,)`` resampled to ``low_rate`` and back: nothing above ``low_rate / 2`` is left, as in a
    telephone call or an 8 kHz recording played to a 16 kHz model. Same length; a no-op at or below the rate."""
    if sample_rate <= low_rate:
        return waveform
    out = resample(resample(waveform, sample_rate, low_rate), low_rate, sample_rate)
    if out.numel() >= waveform.numel():
        return out[: waveform.numel()]
    return torch.cat([out, torch.zeros(waveform.numel() - out.numel(), dtype=out.dtype)])


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


def room_tone(samples: int, level_dbfs: float, generator: torch.Generator) -> torch.Tensor:
    """Quiet background of a room or a microphone's self-noise, ``(samples,)``: white, pink or brown noise
    (drawn) at an RMS level of ``level_dbfs`` dB re full scale."""
    noise = coloured_noise(max(samples, 1), float(torch.randint(0, 3, (1,), generator=generator)), generator)
    noise = noise[:samples]
    rms = noise.pow(2).mean().sqrt().clamp_min(1e-12)
    return noise * (10.0 ** (level_dbfs / 20.0) / rms)


def simulate_channel(waveform: torch.Tensor, sample_rate: int, config: ChannelConfig,
                     generator: torch.Generator) -> torch.Tensor:
    """Pass ``(samples,)`` through a random room, microphone and line; returns ``(samples,)`` at the same
    peak level. Draws come only from ``generator``, so a seed gives the same channel again.

    In order: a room (measured, with ``config.real``'s probability, else synthetic with ``config.reverb``'s),
    a loudspeaker's response (``config.real``), microphone colour, band limits, noise (recorded or synthetic,
    as the room), clipping, 8 kHz narrowband, mu-law coding. Without ``config.real`` and with ``narrowband``
    0, the draws are those of the simulated channel alone, so its seeds give the channels they always gave.
    """

    def chance(p: float) -> bool:
        return p > 0 and float(torch.rand(1, generator=generator)) < p

    def uniform(low: float, high: float) -> float:
        return float(torch.empty(1).uniform_(low, high, generator=generator))

    def pick(items: list[torch.Tensor]) -> torch.Tensor:
        return items[int(torch.randint(0, len(items), (1,), generator=generator))]

    peak = waveform.abs().max()
    if peak == 0 or waveform.numel() < 2:
        return waveform
    real = config.real
    if real is not None and real.sample_rate != sample_rate:
        raise ValueError(f"real acoustics held at {real.sample_rate} Hz for a waveform at {sample_rate} Hz")
    out = waveform
    if real is not None and chance(real.room):
        out = reverberate(out, pick(real.rooms))
    elif chance(config.reverb):
        response = room_impulse_response(sample_rate, uniform(*config.rt60), generator)
        out = AF.fftconvolve(out, response)[: out.numel()]
    if real is not None and chance(real.device):
        out = reverberate(out, pick(real.devices))
    if chance(config.equalize):
        for _ in range(int(torch.randint(1, 4, (1,), generator=generator))):
            centre = uniform(150.0, 0.45 * sample_rate)
            out = AF.equalizer_biquad(out, sample_rate, centre, uniform(-config.eq_gain_db, config.eq_gain_db),
                                      Q=uniform(0.5, 2.0))
    if chance(config.band_limit):
        out = AF.highpass_biquad(out, sample_rate, uniform(*config.highpass_hz))
        cutoff = min(uniform(*config.lowpass_hz), 0.475 * sample_rate)
        out = AF.lowpass_biquad(AF.lowpass_biquad(out, sample_rate, cutoff), sample_rate, cutoff)
    if real is not None and chance(real.noise):
        out = mix_noise(out, pick(real.noises), uniform(*real.snr_db), generator)
    elif chance(config.noise):
        noise = coloured_noise(out.numel(), float(torch.randint(0, 3, (1,), generator=generator)), generator)
        out = AF.add_noise(out.unsqueeze(0), noise.unsqueeze(0), torch.tensor([uniform(*config.snr_db)])).squeeze(0)
    if chance(config.clip):
        limit = out.abs().max() * uniform(0.3, 0.8)
        out = out.clamp(-limit, limit)
    if chance(config.narrowband):
        out = narrowband(out, sample_rate)
    out = normalise_peak(out, float(peak))
    if chance(config.mu_law):
        out = AF.mu_law_decoding(AF.mu_law_encoding(out.clamp(-1, 1), 256), 256)
    return out

"""Simulated channels: each effect changes the audio the way it should, and a seed repeats the draw."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from asr.audio import load_audio
from asr.augment import ChannelConfig, coloured_noise, room_impulse_response, simulate_channel

RATE = 8000
ONLY = ChannelConfig.off()


@pytest.fixture(scope="module")
def speech(fsdd_dir) -> torch.Tensor:
    return load_audio(fsdd_dir / "7_jackson_5.wav", RATE)


def band_energy(waveform: torch.Tensor, low: float, high: float) -> float:
    spectrum = torch.fft.rfft(waveform).abs() ** 2
    freqs = torch.fft.rfftfreq(waveform.numel(), 1 / RATE)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum() / spectrum.sum())


def test_off_is_identity_and_seed_repeats(speech):
    assert torch.equal(simulate_channel(speech, RATE, ONLY, torch.Generator().manual_seed(0)), speech)
    a = simulate_channel(speech, RATE, ChannelConfig(), torch.Generator().manual_seed(5))
    b = simulate_channel(speech, RATE, ChannelConfig(), torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.shape == speech.shape
    assert float(a.abs().max()) == pytest.approx(float(speech.abs().max()), rel=0.05)  # same peak level


def test_band_limit_removes_high_and_low_frequencies(speech):
    config = dataclasses.replace(ONLY, band_limit=1.0, highpass_hz=(400.0, 400.0), lowpass_hz=(2000.0, 2000.0))
    out = simulate_channel(speech, RATE, config, torch.Generator().manual_seed(0))
    assert band_energy(out, 3000, 4000) < 0.1 * band_energy(speech, 3000, 4000)
    assert band_energy(out, 0, 150) < 0.2 * band_energy(speech, 0, 150)


def test_reverberation_spreads_energy_in_time(speech):
    config = dataclasses.replace(ONLY, reverb=1.0, rt60=(0.8, 0.8))
    padded = torch.cat([speech, torch.zeros(RATE // 2)])  # half a second of silence after the word
    out = simulate_channel(padded, RATE, config, torch.Generator().manual_seed(0))
    tail = slice(speech.numel() + RATE // 10, None)  # silence, 100 ms after the speech stopped
    assert float(padded[tail].abs().max()) == 0.0
    assert float(out[tail].pow(2).mean()) > 0.001 * float(out.pow(2).mean())  # the room still rings
    response = room_impulse_response(RATE, 0.5, torch.Generator().manual_seed(1))
    assert response.numel() == 4000 and float(response.norm()) == pytest.approx(1.0)
    late = response[3000:].pow(2).sum() / response[:1000].pow(2).sum()
    assert late < 0.01  # -60 dB at rt60: the last quarter holds a tiny share of the energy


def test_noise_at_the_drawn_snr(speech):
    config = dataclasses.replace(ONLY, noise=1.0, snr_db=(0.0, 0.0))
    out = simulate_channel(speech, RATE, config, torch.Generator().manual_seed(0))
    residual = out / out.abs().max() * speech.abs().max() - speech
    assert float(residual.pow(2).mean()) > 0.3 * float(speech.pow(2).mean())
    brown = coloured_noise(8000, 2.0, torch.Generator().manual_seed(0))
    spectrum = np.abs(np.fft.rfft(brown.numpy())) ** 2
    assert spectrum[10:100].mean() > 100 * spectrum[3000:4000].mean()  # power falls with frequency


def test_bad_probability_is_refused():
    with pytest.raises(ValueError):
        ChannelConfig(noise=1.5)

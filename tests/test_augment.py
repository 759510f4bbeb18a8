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


# Real acoustics, on small generated impulse responses and noise (the shared ones are for the recipes).

WIDE = 16000


def decaying_response(samples: int, delay: int, seed: int) -> torch.Tensor:
    """Leading zeros (``delay``), a direct path of 1, then a decaying noise tail: a measured response's shape."""
    generator = torch.Generator().manual_seed(seed)
    tail = torch.randn(samples, generator=generator) * torch.exp(-torch.arange(samples) / (samples / 6)) * 0.05
    response = torch.cat([torch.zeros(delay), torch.tensor([1.0]), tail])
    return response


def test_align_response_starts_at_the_direct_path_not_at_a_later_peak():
    from asr.augment import align_response

    response = decaying_response(400, delay=250, seed=0)
    aligned = align_response(response)
    assert aligned.numel() == 401 and float(aligned.norm()) == pytest.approx(1.0)
    assert int(aligned.abs().argmax()) == 0
    # a reflection stronger than the direct sound: the direct path (within 20 dB of the peak) still starts it
    echo = torch.zeros(300)
    echo[[40, 200]] = torch.tensor([0.5, 1.0])
    assert align_response(echo).numel() == 260
    with pytest.raises(ValueError):
        align_response(torch.zeros(10))


def test_a_single_one_is_the_identity_and_a_room_keeps_length_peak_and_alignment(speech):
    from asr.augment import align_response, reverberate

    assert torch.allclose(reverberate(speech, torch.ones(1)), speech, atol=1e-6)
    # leading zeros do not delay the speech: after alignment the output lines up with the input
    delayed_identity = align_response(torch.cat([torch.zeros(800), torch.ones(1)]))
    assert torch.allclose(reverberate(speech, delayed_identity), speech, atol=1e-6)
    room = align_response(decaying_response(RATE // 2, delay=400, seed=1))
    out = reverberate(speech, room)
    assert out.shape == speech.shape
    assert float(out.abs().max()) == pytest.approx(float(speech.abs().max()), rel=1e-5)
    lags = torch.arange(-200, 201)
    correlation = torch.stack([(speech * torch.roll(out, -int(lag))).sum() for lag in lags])
    assert abs(int(lags[correlation.argmax()])) <= 2  # no delay from the response's leading zeros


def test_recorded_noise_at_the_drawn_snr_repeated_when_short_and_repeatable(speech):
    from asr.augment import mix_noise

    noise = torch.randn(RATE // 4, generator=torch.Generator().manual_seed(3))  # shorter than the speech
    out = mix_noise(speech, noise, 10.0, torch.Generator().manual_seed(0))
    added = out - speech
    assert out.shape == speech.shape
    snr = 10 * torch.log10(speech.pow(2).mean() / added.pow(2).mean())
    assert float(snr) == pytest.approx(10.0, abs=0.01)
    again = mix_noise(speech, noise, 10.0, torch.Generator().manual_seed(0))
    other = mix_noise(speech, noise, 10.0, torch.Generator().manual_seed(1))
    assert torch.equal(out, again) and not torch.equal(out, other)


def write_acoustics(root, rate: int = WIDE):
    """A tiny rirs_noise tree: two rooms (one delayed), one device response, one noise, and index.tsv."""
    import soundfile as sf

    (root / "rirs").mkdir(parents=True)
    (root / "noise").mkdir()
    responses = {"room_a": decaying_response(rate // 10, 0, 0), "room_b": decaying_response(rate // 5, 300, 1),
                 "phone": decaying_response(40, 5, 2)}
    for name, response in responses.items():
        sf.write(root / "rirs" / f"{name}.flac", (0.5 * response / response.abs().max()).numpy(), rate)
    hum = torch.sin(torch.arange(rate) * 2 * torch.pi * 120 / rate) * 0.1
    sf.write(root / "noise" / "hum.flac", hum.numpy(), rate)
    (root / "index.tsv").write_text("path\tkind\tseconds\nrirs/room_a.flac\troom\t0.1\nrirs/room_b.flac\troom\t0.2\n"
                                    "rirs/phone.flac\tdevice\t0.0\nnoise/hum.flac\tnoise\t1.0\n")


def test_real_acoustics_load_resample_and_refuse(tmp_path):
    from asr.augment import RealAcoustics
    from asr.errors import AsrError

    write_acoustics(tmp_path / "acoustics")
    real = RealAcoustics.load(tmp_path / "acoustics", RATE, room=0.7)
    assert (len(real.rooms), len(real.devices), len(real.noises), real.room) == (2, 1, 1, 0.7)
    assert real.noises[0].numel() == RATE  # one second, resampled from 16 kHz
    # aligned: the direct path first (within the few samples the resampler spreads an impulse over)
    assert all(int(r.abs().argmax()) <= 3 and float(r.norm()) == pytest.approx(1.0) for r in real.rooms)
    assert "2 rooms" in repr(real) and "tensor" not in repr(real)
    with pytest.raises(ValueError, match="no device"):
        RealAcoustics(RATE, real.rooms, [], real.noises, device=0.5)
    with pytest.raises(AsrError, match="not found"):
        RealAcoustics.load(tmp_path / "missing", RATE)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AsrError, match="no impulse responses"):
        RealAcoustics.load(tmp_path / "empty", RATE)


def test_held_out_rooms_leave_the_training_part(tmp_path):
    from asr.augment import RealAcoustics

    rooms = [torch.full((3,), float(i)) for i in range(7)]
    devices = [torch.full((2,), -float(i)) for i in range(3)]
    real = RealAcoustics(RATE, rooms, devices, [torch.ones(RATE)], room=0.5, device=0.1, noise=0.4)
    kept, held = real.held_out(3)
    assert [int(r[0]) for r in held.rooms] == [0, 3, 6] and [int(r[0]) for r in kept.rooms] == [1, 2, 4, 5]
    assert [int(d[0]) for d in held.devices] == [0] and len(kept.devices) == 2
    assert (kept.room, kept.device, kept.noise, len(kept.noises)) == (0.5, 0.1, 0.4, 1)  # training keeps the rest
    assert (held.room, held.device, held.noise, held.noises) == (1.0, 0.0, 0.0, [])  # a room, nothing else
    assert not {id(r) for r in held.rooms} & {id(r) for r in kept.rooms}
    with pytest.raises(ValueError, match="at least 2"):
        real.held_out(1)
    lone = RealAcoustics(RATE, rooms[:2], devices[:1], [], room=0.5, device=0.1, noise=0.0).held_out(5)[0]
    assert (len(lone.rooms), lone.room, lone.devices, lone.device) == (1, 0.5, [], 0.0)  # no device left to draw


def test_simulate_channel_with_real_acoustics(tmp_path, speech):
    from asr.augment import RealAcoustics

    write_acoustics(tmp_path / "acoustics")
    real = RealAcoustics.load(tmp_path / "acoustics", RATE, room=1.0, device=1.0, noise=1.0, snr_db=(10.0, 10.0))
    config = dataclasses.replace(ONLY, real=real)
    a = simulate_channel(speech, RATE, config, torch.Generator().manual_seed(4))
    b = simulate_channel(speech, RATE, config, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and a.shape == speech.shape and not torch.allclose(a, speech, atol=1e-3)
    assert float(a.abs().max()) == pytest.approx(float(speech.abs().max()), rel=1e-5)  # same peak level
    # nothing drawn from the real acoustics at probability 0: the simulated channel alone, as before
    quiet = dataclasses.replace(ChannelConfig(), real=RealAcoustics(RATE, [], [], [], room=0, device=0, noise=0))
    plain = simulate_channel(speech, RATE, ChannelConfig(), torch.Generator().manual_seed(5))
    assert torch.equal(simulate_channel(speech, RATE, quiet, torch.Generator().manual_seed(5)), plain)
    identity = RealAcoustics(RATE, [torch.ones(1)], [], [], room=1.0, device=0.0, noise=0.0)
    out = simulate_channel(speech, RATE, dataclasses.replace(ONLY, real=identity), torch.Generator().manual_seed(0))
    assert torch.allclose(out, speech, atol=1e-6)
    with pytest.raises(ValueError, match="8000 Hz"):
        simulate_channel(speech, WIDE, config, torch.Generator().manual_seed(0))


def test_narrowband_leaves_nothing_above_4_khz():
    from asr.augment import narrowband

    noise = torch.randn(WIDE, generator=torch.Generator().manual_seed(0))
    out = narrowband(noise, WIDE)
    spectrum = torch.fft.rfft(out).abs() ** 2
    freqs = torch.fft.rfftfreq(WIDE, 1 / WIDE)
    assert out.shape == noise.shape
    assert float(spectrum[freqs > 4100].sum() / spectrum.sum()) < 1e-3
    assert torch.equal(narrowband(noise, 8000), noise)
    config = dataclasses.replace(ONLY, narrowband=1.0)
    assert torch.allclose(simulate_channel(noise, WIDE, config, torch.Generator().manual_seed(0)),
                          out * noise.abs().max() / out.abs().max())

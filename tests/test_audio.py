"""Audio input: formats, rates, channels, sample types, and clear errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.audio import audio_info, load_audio, prepare_waveform
from asr.errors import AsrError


def tone(rate: int, seconds: float = 0.5, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("fmt, subtype", [("WAV", "PCM_16"), ("WAV", "FLOAT"), ("FLAC", "PCM_24"),
                                          ("OGG", "VORBIS"), ("WAV", "PCM_U8")])
def test_formats_read_to_mono_float(tmp_path, fmt, subtype):
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, tone(16000), 16000, format=fmt, subtype=subtype)
    audio = load_audio(path, 16000)
    assert audio.dtype == torch.float32 and audio.ndim == 1
    assert abs(audio.numel() - 8000) < 200
    assert 0.3 < float(audio.abs().max()) < 0.6


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 96000])
def test_any_rate_is_resampled(tmp_path, rate):
    path = tmp_path / "a.wav"
    sf.write(path, tone(rate, 1.0), rate)
    audio = load_audio(path, 16000)
    assert abs(audio.numel() - 16000) <= 2
    # the 440 Hz tone survives resampling
    spectrum = np.abs(np.fft.rfft(audio.numpy()))
    assert abs(int(np.argmax(spectrum)) - 440) <= 2


@pytest.mark.parametrize("channels", [2, 8])
def test_channels_are_mixed_to_mono(tmp_path, channels):
    data = np.stack([tone(8000)] + [np.zeros(4000, np.float32)] * (channels - 1), axis=1)
    path = tmp_path / "multi.wav"
    sf.write(path, data, 8000, subtype="FLOAT")
    audio = load_audio(path, 8000)
    assert audio.shape == (4000,)
    assert float(audio.abs().max()) == pytest.approx(0.5 / channels, rel=1e-3)


def test_integer_arrays_are_scaled():
    assert float(prepare_waveform(np.array([32767, -32768], np.int16), 8000, 8000).abs().max()) <= 1.0
    assert prepare_waveform(np.array([16384], np.int16), 8000, 8000)[0] == pytest.approx(0.5, abs=1e-4)


def test_header_is_read_without_decoding(fsdd_dir):
    info = audio_info(fsdd_dir / "3_george_7.wav")
    assert info.sample_rate == 8000 and info.channels == 1 and info.frames > 0


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: None, "file not found"),
        (lambda p: p.write_bytes(b""), r"audio file is empty \(0 bytes\)"),
        (lambda p: p.write_bytes(b"this is not audio at all" * 20), "not a readable audio file"),
        (lambda p: sf.write(p, np.zeros(0, np.float32), 8000), "empty"),
        (lambda p: sf.write(p, np.array([0.1, np.nan, 0.2], np.float32), 8000, subtype="FLOAT"), "NaN"),
    ],
    ids=["missing", "zero-bytes", "not-audio", "zero-samples", "nan"],
)
def test_bad_files_raise_one_clear_error(tmp_path, make, reason):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AsrError, match=reason) as info:
        load_audio(path, 16000)
    assert str(path) in str(info.value)


def test_directory_is_refused(tmp_path):
    with pytest.raises(AsrError, match="directory"):
        load_audio(tmp_path, 16000)


def test_truncated_wav_is_refused_or_read_partially(tmp_path, fsdd_dir):
    data = (fsdd_dir / "1_george_7.wav").read_bytes()
    path = tmp_path / "cut.wav"
    path.write_bytes(data[:30])
    with pytest.raises(AsrError):
        load_audio(path, 8000)


def test_bad_sample_rate_argument():
    with pytest.raises(AsrError, match="sample rate"):
        prepare_waveform(np.zeros(10, np.float32), 0, 8000)

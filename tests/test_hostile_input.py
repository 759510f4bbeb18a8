"""Hostile input: whatever the bytes, our readers answer with data or with AsrError, never anything else."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr.audio import load_audio
from asr.errors import AsrError
from asr.lm import read_arpa
from asr.manifest import read_manifest

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _read_or_clear_error(path) -> None:
    try:
        audio = load_audio(path, 16000)
    except AsrError:
        return
    assert audio.ndim == 1 and audio.numel() > 0 and torch.isfinite(audio).all()


def wav_header(data_size: int, channels: int = 1, rate: int = 8000, bits: int = 16, riff_size: int | None = None):
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    riff = riff_size if riff_size is not None else 36 + data_size
    return (b"RIFF" + struct.pack("<I", riff & 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", data_size & 0xFFFFFFFF))


@SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes(tmp_path, data):
    path = tmp_path / "x.wav"
    path.write_bytes(data)
    _read_or_clear_error(path)


@SETTINGS
@given(declared=st.integers(0, 2**32 - 1), actual=st.integers(0, 2000), channels=st.integers(0, 9),
       rate=st.integers(0, 200_000), bits=st.sampled_from([0, 8, 16, 24, 32, 13]))
def test_lying_wav_headers(tmp_path, declared, actual, channels, rate, bits):
    path = tmp_path / "lie.wav"
    path.write_bytes(wav_header(declared, channels, rate, bits) + bytes(actual))
    _read_or_clear_error(path)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000, 96000])
@pytest.mark.parametrize("channels", [1, 8])
def test_rates_and_channels(tmp_path, rate, channels):
    path = tmp_path / "a.wav"
    sf.write(path, np.full((rate // 10, channels), 0.25, np.float32), rate, subtype="FLOAT")
    audio = load_audio(path, 16000)
    assert abs(audio.numel() - 1600) <= 2


def test_clipped_samples_are_kept_in_range(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, np.full(800, 3.0, np.float32), 8000, subtype="FLOAT")
    audio = load_audio(path, 8000)
    assert torch.isfinite(audio).all()  # float WAV may exceed 1.0: passed through, features stay finite


def test_infinite_samples(tmp_path):
    path = tmp_path / "inf.wav"
    sf.write(path, np.array([0.0, np.inf, 0.1], np.float32), 8000, subtype="FLOAT")
    with pytest.raises(AsrError, match="NaN or infinite"):
        load_audio(path, 8000)


@SETTINGS
@given(st.text(max_size=300))
def test_random_manifest_text(tmp_path, text):
    path = tmp_path / "m.jsonl"
    path.write_text(text, encoding="utf-8")
    try:
        utterances = read_manifest(path)
    except AsrError:
        return
    assert all(u.duration > 0 and isinstance(u.text, str) for u in utterances)


@SETTINGS
@given(st.text(max_size=400))
def test_random_arpa_text(tmp_path, text):
    path = tmp_path / "lm.arpa"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AsrError):
        read_arpa(path)


def test_manifest_that_is_binary(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(AsrError):
        read_manifest(path)


def test_huge_declared_sizes_do_not_exhaust_memory(tmp_path):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    path = tmp_path / "liar.wav"
    for channels in (1, 8, 9):
        for bits in (0, 8, 13, 16, 24, 32):
            for declared in (2**32 - 1, 2**31, 2**30 + 7, 123456789):
                path.write_bytes(wav_header(declared, channels, 44100, bits) + bytes(1000))
                _read_or_clear_error(path)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 512, f"reading lying headers grew the process by {grown_mib:.0f} MiB"


@pytest.mark.parametrize("rate", [1000, 1001, 7999, 44101, 199_999, 768_000])
def test_odd_sample_rates_resample_in_bounded_memory(rate):
    import resource

    from asr.audio import prepare_waveform

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    audio = prepare_waveform(np.zeros(rate // 2, np.float32), rate, 16000)
    assert abs(audio.numel() - 8000) <= 8000 * 0.003
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 256


def test_absurd_sample_rates_are_refused():
    from asr.audio import prepare_waveform

    with pytest.raises(AsrError, match="sample rate must be a whole number of Hz from 1000 to 768000, got 3"):
        prepare_waveform(np.zeros(100, np.float32), 3, 16000)
